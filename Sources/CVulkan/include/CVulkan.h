// The Vulkan API without prototypes: every function is looked up through vkGetInstanceProcAddr from a
// loader opened with dlopen("libvulkan.so.1"), so the binary has no link-time dependency on it.
#ifndef CVULKAN_H
#define CVULKAN_H
#define VK_NO_PROTOTYPES 1
#include <vulkan/vulkan.h>
#endif
