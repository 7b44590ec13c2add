import OrchestratorCore

/// GPUs through the Vulkan loader (`libvulkan.so.1`, opened at run time), named as llama.cpp's Vulkan
/// backend names them.
///
/// Every physical device is listed with its raw `vkEnumeratePhysicalDevices` index. Those llama.cpp would
/// pick itself get their `VulkanN` name (see `GGMLVulkanSelection`); CPU-type devices such as Mesa's
/// lavapipe have none and are selected through `GGML_VK_VISIBLE_DEVICES` (see `launchSettings(for:)`).
/// Free memory follows llama.cpp: device-local heaps (every heap on an integrated GPU), budget − usage
/// with `VK_EXT_memory_budget`, else the heap size, clamped to the heap.
public struct VulkanDriver: BackendDriver {
    public static let name = "vulkan"
    public static let summary = "GPUs through the Vulkan loader (libvulkan.so.1, opened at run time)"

    /// The loader library to open.
    public let library: String
    /// `GGML_VK_VISIBLE_DEVICES` as llama-server would see it: it changes which devices get which name.
    public let visibleDevices: String?

    public init(context: DriverContext) {
        self.init(context: context, library: VulkanLoader.defaultLibrary)
    }

    /// Creates a driver that opens `library` instead of the system loader (tests name a missing one).
    public init(context: DriverContext, library: String) {
        self.library = library
        visibleDevices = context.environment["GGML_VK_VISIBLE_DEVICES"]
    }

    public func probe() async -> DriverProbe {
        let found = VulkanLoader.open(library).flatMap { VulkanEnumerator(loader: $0).physicalDevices() }
        switch found {
        case .success(let physical): return .available(devices(from: physical))
        case .failure(.noLoader(let library, let detail)):
            return .unavailable(.init(.missingDependency, "no Vulkan loader (\(library)): \(detail)"))
        case .failure(.noInstance(let result)):
            return .unavailable(
                .init(
                    .noDevices,
                    "the Vulkan loader works but vkCreateInstance failed (\(resultName(result))): no Vulkan driver "
                        + "(ICD) is installed; install mesa-vulkan-drivers or the GPU vendor's driver"))
        case .failure(.noDevices):
            return .unavailable(
                .init(.noDevices, "the Vulkan loader works but no Vulkan driver (ICD) reports a device"))
        case .failure(.missingFunction(let name)):
            return .unavailable(.init(.missingDependency, "the Vulkan loader (\(library)) has no \(name)"))
        }
    }

    /// Devices with llama.cpp's names, in raw index order.
    public func devices(from physical: [VulkanPhysicalDevice]) -> [Device] {
        let order = GGMLVulkanSelection.order(physical, visibleDevices: visibleDevices)
        let named = order.compactMap { index in physical.first { $0.index == index } }
        return physical.map { device in
            let position = order.firstIndex(of: device.index)
            let memory = device.memory
            var details = [
                "vulkan_index": String(device.index),
                "vulkan_type": String(describing: device.type),
                "api_version": device.apiVersionString,
                "vendor_id": "0x" + String(device.vendorID, radix: 16),
                "device_id": "0x" + String(device.deviceID, radix: 16),
                "heaps": device.heaps.map { "\($0.size)\($0.deviceLocal ? " device-local" : "")" }
                    .joined(separator: ", "),
                "memory_budget": device.heaps.contains { $0.budget != nil } ? "yes" : "no",
            ]
            if let driver = device.driverName { details["driver"] = driver }
            if let info = device.driverInfo, !info.isEmpty { details["driver_info"] = info }
            if position != nil {
                details["llama_default"] =
                    GGMLVulkanSelection.usedByDefault(device, among: named)
                    ? "yes" : "no (integrated GPU beside a discrete one)"
            } else {
                details["llama_default"] = "no (select with GGML_VK_VISIBLE_DEVICES=\(device.index))"
            }
            return Device(
                id: device.uuidHex ?? device.pciBusID ?? "vulkan:\(device.index)", backend: Self.name,
                llamaName: position.map { "Vulkan\($0)" }, description: device.name, kind: kind(of: device.type),
                vendor: vendorName(device.vendorID), totalBytes: memory.total, freeBytes: memory.free,
                pciBusID: device.pciBusID, uuid: device.uuidHex, rawIndex: device.index,
                maxTensorBytes: device.maxTensorBytes, details: details)
        }
    }

    /// `--device` names as llama.cpp gives them; when a device has none (lavapipe), every chosen device is
    /// pinned by raw index with `GGML_VK_VISIBLE_DEVICES` and named `Vulkan0...` in that order.
    public func launchSettings(for devices: [Device]) -> LaunchSettings {
        let chosen = devices.filter { !$0.isHost }
        if chosen.allSatisfy({ $0.llamaName != nil }) {
            return LaunchSettings(deviceNames: chosen.compactMap(\.llamaName), environment: [:])
        }
        let indices = chosen.compactMap(\.rawIndex)
        return LaunchSettings(
            deviceNames: indices.indices.map { "Vulkan\($0)" },
            environment: ["GGML_VK_VISIBLE_DEVICES": indices.map(String.init).joined(separator: ",")])
    }

    private func kind(of type: VulkanPhysicalDevice.DeviceType) -> DeviceKind {
        switch type {
        case .discrete: .discrete
        case .integrated: .integrated
        case .cpu: .cpu
        case .virtual, .other: .virtual
        }
    }
}

/// `Mesa (0x10005)` for well-known PCI and Khronos vendor ids, else the id.
func vendorName(_ id: UInt32) -> String {
    let names: [UInt32: String] = [
        0x1002: "AMD", 0x1010: "ImgTec", 0x106b: "Apple", 0x10de: "NVIDIA", 0x13b5: "ARM", 0x14e4: "Broadcom",
        0x5143: "Qualcomm", 0x8086: "Intel", 0x10005: "Mesa",
    ]
    let hex = "0x" + String(id, radix: 16)
    return names[id].map { "\($0) (\(hex))" } ?? hex
}

/// `VK_ERROR_INCOMPATIBLE_DRIVER (-9)` for the results vkCreateInstance returns.
private func resultName(_ result: Int32) -> String {
    let names: [Int32: String] = [
        -1: "VK_ERROR_OUT_OF_HOST_MEMORY", -2: "VK_ERROR_OUT_OF_DEVICE_MEMORY", -3: "VK_ERROR_INITIALIZATION_FAILED",
        -6: "VK_ERROR_LAYER_NOT_PRESENT", -7: "VK_ERROR_EXTENSION_NOT_PRESENT", -9: "VK_ERROR_INCOMPATIBLE_DRIVER",
    ]
    return "\(names[result] ?? "VkResult") (\(result))"
}
