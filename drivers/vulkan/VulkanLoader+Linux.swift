import CVulkan
import Glibc

/// The Vulkan loader, opened at run time so that the binary has no link-time dependency on it.
///
/// Only `vkGetInstanceProcAddr` is looked up with `dlsym`; every other function comes from it. The
/// library stays loaded for the life of the process, as in llama.cpp: unloading LLVM-based drivers such as
/// lavapipe is known to crash at exit.
struct VulkanLoader {
    /// The loader's soname on Linux.
    static let defaultLibrary = "libvulkan.so.1"

    /// The library that was opened.
    let library: String
    let getInstanceProcAddr: PFN_vkGetInstanceProcAddr

    /// Opens `library`, or returns why it can't be used.
    static func open(_ library: String) -> Result<VulkanLoader, UnavailableVulkan> {
        guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL) else {
            let detail = dlerror().map { String(cString: $0) } ?? "dlopen failed"
            return .failure(.noLoader(library: library, detail: detail))
        }
        guard let symbol = dlsym(handle, "vkGetInstanceProcAddr") else {
            return .failure(.noLoader(library: library, detail: "it has no vkGetInstanceProcAddr"))
        }
        return .success(
            VulkanLoader(
                library: library, getInstanceProcAddr: unsafeBitCast(symbol, to: PFN_vkGetInstanceProcAddr.self)))
    }

    /// A Vulkan function by name, for `instance` (or a global function when `instance` is `nil`).
    func function<Function>(_ name: String, _ instance: VkInstance?, as type: Function.Type) -> Function? {
        guard let pointer = getInstanceProcAddr(instance, name) else { return nil }
        return unsafeBitCast(pointer, to: type)
    }
}
