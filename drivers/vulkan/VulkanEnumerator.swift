import CVulkan
import Foundation

/// Why the Vulkan driver found nothing to offer.
enum UnavailableVulkan: Error, Equatable {
    /// `dlopen` failed: no loader installed, or not a loadable library.
    case noLoader(library: String, detail: String)
    /// The loader works but `vkCreateInstance` failed (typically no driver/ICD installed).
    case noInstance(result: Int32)
    /// The instance works but lists no physical device.
    case noDevices
    /// The loader lacks a function every Vulkan 1.0 loader has.
    case missingFunction(String)
}

/// Reads every physical device through a loaded Vulkan loader.
///
/// Creates one instance (at the loader's API version, with `VK_KHR_get_physical_device_properties2`
/// when offered), reads each device with `vkGetPhysicalDeviceProperties2` and its extension structures where
/// the device supports them, and destroys the instance.
struct VulkanEnumerator {
    let loader: VulkanLoader

    /// The physical devices in `vkEnumeratePhysicalDevices` order.
    func physicalDevices() -> Result<[VulkanPhysicalDevice], UnavailableVulkan> {
        guard
            let createInstance = loader.function("vkCreateInstance", nil, as: PFN_vkCreateInstance.self),
            let enumerateInstanceExtensions = loader.function(
                "vkEnumerateInstanceExtensionProperties", nil, as: PFN_vkEnumerateInstanceExtensionProperties.self)
        else { return .failure(.missingFunction("vkCreateInstance")) }

        var loaderVersion: UInt32 = makeVersion(1, 0)
        if let enumerateVersion = loader.function(
            "vkEnumerateInstanceVersion", nil, as: PFN_vkEnumerateInstanceVersion.self)
        {
            _ = enumerateVersion(&loaderVersion)
        }
        let instanceExtensions = Self.extensionNames { count, properties in
            enumerateInstanceExtensions(nil, count, properties)
        }
        var enabled: [String] = []
        if instanceExtensions.contains("VK_KHR_get_physical_device_properties2") {
            enabled.append("VK_KHR_get_physical_device_properties2")
        }

        var instance: VkInstance?
        let result = withCStrings(enabled) { names -> VkResult in
            var application = VkApplicationInfo()
            application.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
            // The loader's own version: a 1.0 loader refuses anything newer, a later one accepts it.
            application.apiVersion = loaderVersion
            return withUnsafePointer(to: &application) { applicationPointer in
                var info = VkInstanceCreateInfo()
                info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                info.pApplicationInfo = applicationPointer
                info.enabledExtensionCount = UInt32(names.count)
                return names.withUnsafeBufferPointer { buffer in
                    info.ppEnabledExtensionNames = buffer.baseAddress
                    return createInstance(&info, nil, &instance)
                }
            }
        }
        guard result == VK_SUCCESS, let instance else { return .failure(.noInstance(result: result.rawValue)) }
        defer {
            loader.function("vkDestroyInstance", instance, as: PFN_vkDestroyInstance.self)?(instance, nil)
        }
        return InstanceReader(loader: loader, instance: instance, hasProperties2Extension: !enabled.isEmpty)
            .devices()
    }

    /// The names from a `vkEnumerate*ExtensionProperties` call, asked twice as Vulkan requires.
    static func extensionNames(
        _ call: (UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<VkExtensionProperties>?) -> VkResult
    ) -> Set<String> {
        var count: UInt32 = 0
        guard call(&count, nil) == VK_SUCCESS, count > 0 else { return [] }
        var properties = [VkExtensionProperties](repeating: VkExtensionProperties(), count: Int(count))
        let result = properties.withUnsafeMutableBufferPointer { call(&count, $0.baseAddress) }
        guard result == VK_SUCCESS || result == VK_INCOMPLETE else { return [] }
        return Set(properties.prefix(Int(count)).map { cString(fromTuple: $0.extensionName) })
    }
}

/// The per-device queries of one instance.
private struct InstanceReader {
    let loader: VulkanLoader
    let instance: VkInstance
    let hasProperties2Extension: Bool

    func devices() -> Result<[VulkanPhysicalDevice], UnavailableVulkan> {
        guard
            let enumerate = loader.function(
                "vkEnumeratePhysicalDevices", instance, as: PFN_vkEnumeratePhysicalDevices.self),
            let getProperties = loader.function(
                "vkGetPhysicalDeviceProperties", instance, as: PFN_vkGetPhysicalDeviceProperties.self),
            let getMemory = loader.function(
                "vkGetPhysicalDeviceMemoryProperties", instance, as: PFN_vkGetPhysicalDeviceMemoryProperties.self),
            let enumerateExtensions = loader.function(
                "vkEnumerateDeviceExtensionProperties", instance, as: PFN_vkEnumerateDeviceExtensionProperties.self)
        else { return .failure(.missingFunction("vkEnumeratePhysicalDevices")) }

        var count: UInt32 = 0
        guard enumerate(instance, &count, nil) == VK_SUCCESS, count > 0 else { return .failure(.noDevices) }
        var handles = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        guard enumerate(instance, &count, &handles) == VK_SUCCESS || count > 0 else { return .failure(.noDevices) }

        let properties2 =
            loader.function("vkGetPhysicalDeviceProperties2", instance, as: PFN_vkGetPhysicalDeviceProperties2.self)
            ?? (hasProperties2Extension
                ? loader.function(
                    "vkGetPhysicalDeviceProperties2KHR", instance, as: PFN_vkGetPhysicalDeviceProperties2.self) : nil)
        let memory2 =
            loader.function(
                "vkGetPhysicalDeviceMemoryProperties2", instance, as: PFN_vkGetPhysicalDeviceMemoryProperties2.self)
            ?? (hasProperties2Extension
                ? loader.function(
                    "vkGetPhysicalDeviceMemoryProperties2KHR", instance,
                    as: PFN_vkGetPhysicalDeviceMemoryProperties2.self) : nil)
        let features2 =
            loader.function("vkGetPhysicalDeviceFeatures2", instance, as: PFN_vkGetPhysicalDeviceFeatures2.self)
            ?? (hasProperties2Extension
                ? loader.function(
                    "vkGetPhysicalDeviceFeatures2KHR", instance, as: PFN_vkGetPhysicalDeviceFeatures2.self) : nil)

        var devices: [VulkanPhysicalDevice] = []
        for (index, handle) in handles.prefix(Int(count)).enumerated() {
            guard let handle else { continue }
            var basic = VkPhysicalDeviceProperties()
            getProperties(handle, &basic)
            let extensions = VulkanEnumerator.extensionNames { count, properties in
                enumerateExtensions(handle, nil, count, properties)
            }
            let deviceVersion = basic.apiVersion
            // Extension structures are chained only where the device (API version or extension) knows them.
            let modern = deviceVersion >= makeVersion(1, 1) || hasProperties2Extension
            var device = VulkanPhysicalDevice(
                index: index, name: cString(fromTuple: basic.deviceName),
                type: VulkanPhysicalDevice.DeviceType(rawValue: basic.deviceType.rawValue) ?? .other,
                vendorID: basic.vendorID, deviceID: basic.deviceID, apiVersion: deviceVersion, heaps: [],
                supports16BitStorage: false)
            device.maxStorageBufferRange = UInt64(basic.limits.maxStorageBufferRange)
            device.has64BitIndexing = extensions.contains("VK_EXT_shader_64bit_indexing")

            if modern, let properties2 {
                readIdentity(
                    handle, into: &device, properties2: properties2,
                    driverProperties: deviceVersion >= makeVersion(1, 2)
                        || extensions.contains("VK_KHR_driver_properties"),
                    idProperties: deviceVersion >= makeVersion(1, 1)
                        || extensions.contains("VK_KHR_external_memory_capabilities"),
                    pciBusInfo: extensions.contains("VK_EXT_pci_bus_info"))
            }
            if modern, let features2 {
                var storage = VkPhysicalDevice16BitStorageFeatures()
                storage.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
                withUnsafeMutablePointer(to: &storage) { pointer in
                    var features = VkPhysicalDeviceFeatures2()
                    features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
                    features.pNext = UnsafeMutableRawPointer(pointer)
                    features2(handle, &features)
                }
                device.supports16BitStorage = storage.storageBuffer16BitAccess != 0
            }

            var memory = VkPhysicalDeviceMemoryProperties()
            var budget = VkPhysicalDeviceMemoryBudgetPropertiesEXT()
            let hasBudget = modern && memory2 != nil && extensions.contains("VK_EXT_memory_budget")
            if hasBudget, let memory2 {
                budget.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT
                withUnsafeMutablePointer(to: &budget) { pointer in
                    var properties = VkPhysicalDeviceMemoryProperties2()
                    properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2
                    properties.pNext = UnsafeMutableRawPointer(pointer)
                    memory2(handle, &properties)
                    memory = properties.memoryProperties
                }
            } else {
                getMemory(handle, &memory)
            }
            let heaps = tupleElements(memory.memoryHeaps, as: VkMemoryHeap.self)
            let budgets = tupleElements(budget.heapBudget, as: VkDeviceSize.self)
            let usages = tupleElements(budget.heapUsage, as: VkDeviceSize.self)
            device.heaps = (0..<min(Int(memory.memoryHeapCount), heaps.count)).map { heap in
                VulkanPhysicalDevice.Heap(
                    size: heaps[heap].size,
                    deviceLocal: heaps[heap].flags & UInt32(VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue) != 0,
                    budget: hasBudget ? budgets[heap] : nil, usage: hasBudget ? usages[heap] : nil)
            }
            devices.append(device)
        }
        return devices.isEmpty ? .failure(.noDevices) : .success(devices)
    }

    /// Driver name and id, UUID/LUID and PCI bus id, through one `vkGetPhysicalDeviceProperties2` call.
    private func readIdentity(
        _ handle: VkPhysicalDevice, into device: inout VulkanPhysicalDevice,
        properties2: PFN_vkGetPhysicalDeviceProperties2, driverProperties: Bool, idProperties: Bool, pciBusInfo: Bool
    ) {
        let driver = UnsafeMutablePointer<VkPhysicalDeviceDriverProperties>.allocate(capacity: 1)
        let identity = UnsafeMutablePointer<VkPhysicalDeviceIDProperties>.allocate(capacity: 1)
        let pci = UnsafeMutablePointer<VkPhysicalDevicePCIBusInfoPropertiesEXT>.allocate(capacity: 1)
        defer {
            driver.deallocate()
            identity.deallocate()
            pci.deallocate()
        }
        driver.initialize(to: VkPhysicalDeviceDriverProperties())
        driver.pointee.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES
        identity.initialize(to: VkPhysicalDeviceIDProperties())
        identity.pointee.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES
        pci.initialize(to: VkPhysicalDevicePCIBusInfoPropertiesEXT())
        pci.pointee.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PCI_BUS_INFO_PROPERTIES_EXT

        var chain: UnsafeMutableRawPointer?
        if pciBusInfo {
            pci.pointee.pNext = chain
            chain = UnsafeMutableRawPointer(pci)
        }
        if idProperties {
            identity.pointee.pNext = chain
            chain = UnsafeMutableRawPointer(identity)
        }
        if driverProperties {
            driver.pointee.pNext = chain
            chain = UnsafeMutableRawPointer(driver)
        }
        var properties = VkPhysicalDeviceProperties2()
        properties.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2
        properties.pNext = chain
        properties2(handle, &properties)

        if driverProperties {
            device.driverID = driver.pointee.driverID.rawValue
            device.driverName = cString(fromTuple: driver.pointee.driverName)
            device.driverInfo = cString(fromTuple: driver.pointee.driverInfo)
        }
        if idProperties {
            device.uuid = tupleElements(identity.pointee.deviceUUID, as: UInt8.self)
            if identity.pointee.deviceLUIDValid != 0 {
                device.luid = tupleElements(identity.pointee.deviceLUID, as: UInt8.self)
            }
        }
        if pciBusInfo {
            let info = pci.pointee
            device.pciBusID =
                hex(info.pciDomain, digits: 4) + ":" + hex(info.pciBus, digits: 2) + ":"
                + hex(info.pciDevice, digits: 2) + "." + String(info.pciFunction & 0x7, radix: 16)
        }
    }
}

/// `VK_MAKE_API_VERSION(0, major, minor, 0)`.
func makeVersion(_ major: UInt32, _ minor: UInt32) -> UInt32 { (major << 22) | (minor << 12) }

/// A NUL-terminated C string stored in a fixed-size array (imported as a tuple).
func cString<Tuple>(fromTuple tuple: Tuple) -> String {
    withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// The elements of a fixed-size C array (imported as a tuple of `Element`).
func tupleElements<Tuple, Element>(_ tuple: Tuple, as type: Element.Type) -> [Element] {
    withUnsafeBytes(of: tuple) { raw in
        (0..<(raw.count / MemoryLayout<Element>.stride)).map {
            raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Element>.stride, as: Element.self)
        }
    }
}

/// Lowercase hex, zero-padded to `digits`.
private func hex(_ value: UInt32, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}

/// Runs `body` with the strings as an array of C string pointers that live for the call.
private func withCStrings<Result>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> Result) -> Result {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    return body(copies.map { UnsafePointer($0) })
}
