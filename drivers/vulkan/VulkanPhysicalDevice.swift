/// What the Vulkan driver read about one physical device: plain values, so llama.cpp's rules
/// (which devices get a `VulkanN` name, how much memory is free) can be checked without a GPU.
public struct VulkanPhysicalDevice: Sendable, Equatable {
    /// `VkPhysicalDeviceType`.
    public enum DeviceType: UInt32, Sendable {
        case other = 0
        case integrated = 1
        case discrete = 2
        case virtual = 3
        case cpu = 4
    }

    /// One memory heap, with its budget and usage when `VK_EXT_memory_budget` is offered.
    public struct Heap: Sendable, Equatable {
        public var size: UInt64
        public var deviceLocal: Bool
        public var budget: UInt64?
        public var usage: UInt64?

        public init(size: UInt64, deviceLocal: Bool, budget: UInt64? = nil, usage: UInt64? = nil) {
            self.size = size
            self.deviceLocal = deviceLocal
            self.budget = budget
            self.usage = usage
        }

        /// What llama.cpp counts as free in this heap (budget − usage, else the size), clamped to 0...size.
        public var free: UInt64 {
            guard let budget, let usage else { return size }
            return budget > usage ? min(budget - usage, size) : 0
        }
    }

    /// The position in `vkEnumeratePhysicalDevices`: what `GGML_VK_VISIBLE_DEVICES` takes.
    public var index: Int
    public var name: String
    public var type: DeviceType
    public var vendorID: UInt32
    public var deviceID: UInt32
    /// The device's Vulkan API version, packed as Vulkan packs it.
    public var apiVersion: UInt32
    /// `VkDriverId`, when driver properties could be read.
    public var driverID: UInt32?
    public var driverName: String?
    public var driverInfo: String?
    /// `deviceUUID` (16 bytes), when ID properties could be read.
    public var uuid: [UInt8]?
    /// `deviceLUID` (8 bytes), only when the driver says it is valid.
    public var luid: [UInt8]?
    /// `0000:29:00.0`, when `VK_EXT_pci_bus_info` is offered.
    public var pciBusID: String?
    public var heaps: [Heap]
    /// Whether the device can do 16-bit storage-buffer access, which ggml requires of GPUs it picks itself.
    public var supports16BitStorage: Bool
    /// `limits.maxStorageBufferRange`: newer ggml builds refuse a tensor larger than this (unless the device has
    /// 64-bit shader indexing), so a weight above it stays in host memory. 128 MiB on Mesa's lavapipe.
    public var maxStorageBufferRange: UInt64?
    /// Whether the device offers `VK_EXT_shader_64bit_indexing`, which lifts that limit for ggml.
    public var has64BitIndexing = false

    /// The largest tensor newer ggml builds put on this device, or `nil` for no limit.
    public var maxTensorBytes: UInt64? { has64BitIndexing ? nil : maxStorageBufferRange }

    public init(
        index: Int, name: String, type: DeviceType, vendorID: UInt32 = 0, deviceID: UInt32 = 0,
        apiVersion: UInt32 = 0, driverID: UInt32? = nil, driverName: String? = nil, driverInfo: String? = nil,
        uuid: [UInt8]? = nil, luid: [UInt8]? = nil, pciBusID: String? = nil, heaps: [Heap],
        supports16BitStorage: Bool = true
    ) {
        self.index = index
        self.name = name
        self.type = type
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.apiVersion = apiVersion
        self.driverID = driverID
        self.driverName = driverName
        self.driverInfo = driverInfo
        self.uuid = uuid
        self.luid = luid
        self.pciBusID = pciBusID
        self.heaps = heaps
        self.supports16BitStorage = supports16BitStorage
    }

    /// Total and free bytes by llama.cpp's rule: over device-local heaps (every heap on an integrated GPU).
    public var memory: (total: UInt64, free: UInt64) {
        heaps.filter { type == .integrated || $0.deviceLocal }.reduce((0, 0)) { ($0.0 + $1.size, $0.1 + $1.free) }
    }

    /// `1.3.230`.
    public var apiVersionString: String {
        "\((apiVersion >> 22) & 0x7f).\((apiVersion >> 12) & 0x3ff).\(apiVersion & 0xfff)"
    }

    /// The UUID as 32 lowercase hex digits, unless it is all zeros.
    public var uuidHex: String? {
        guard let uuid, uuid.contains(where: { $0 != 0 }) else { return nil }
        return uuid.map { hexByte($0) }.joined()
    }
}

/// How llama.cpp's Vulkan backend chooses and names devices (`ggml_vk_instance_init` in ggml-vulkan.cpp).
public enum GGMLVulkanSelection {
    /// The raw indices that become `Vulkan0`, `Vulkan1`, ... in that order.
    ///
    /// With `GGML_VK_VISIBLE_DEVICES` set, exactly the raw indices it lists (CPU-type devices included).
    /// Without it: discrete and integrated GPUs that support 16-bit storage buffers, where two devices with
    /// one UUID (or one valid LUID) are the same GPU seen through two drivers and only the preferred driver
    /// is kept; if that leaves none, the first device that is not CPU-type. CPU-type devices (lavapipe)
    /// are never chosen by default.
    public static func order(_ devices: [VulkanPhysicalDevice], visibleDevices: String?) -> [Int] {
        if let visibleDevices {
            // ggml reads unsigned numbers separated by commas or spaces and stops at the first non-number.
            var indices: [Int] = []
            for token in visibleDevices.split(whereSeparator: { $0 == "," || $0 == " " }) {
                guard let index = Int(token) else { break }
                // ggml reads a negative number as a huge unsigned one: like an index out of range, llama-server
                // refuses to start, so no device gets a name.
                guard devices.indices.contains(index) else { return [] }
                indices.append(index)
            }
            return indices
        }
        var chosen: [Int] = []
        for device in devices
        where (device.type == .discrete || device.type == .integrated) && device.supports16BitStorage {
            guard let twin = chosen.first(where: { sameGPU(devices[$0], device) }) else {
                chosen.append(device.index)
                continue
            }
            if driverPriority(device, vendor: devices[twin].vendorID)
                < driverPriority(devices[twin], vendor: devices[twin].vendorID)
            {
                chosen.removeAll { $0 == twin }
                chosen.append(device.index)
            }
        }
        if chosen.isEmpty, let first = devices.first(where: { $0.type != .cpu }) { chosen = [first.index] }
        return chosen
    }

    /// Whether llama.cpp uses a named device when no `--device` is given: integrated GPUs only when there is
    /// no discrete one (llama.cpp's default device list, `llama_model_load_from_file`).
    public static func usedByDefault(_ device: VulkanPhysicalDevice, among named: [VulkanPhysicalDevice]) -> Bool {
        device.type != .integrated || !named.contains { $0.type != .integrated }
    }

    /// `VkDriverId` values the duplicate rule ranks.
    enum DriverID {
        static let amdProprietary: UInt32 = 1
        static let amdOpenSource: UInt32 = 2
        static let mesaRADV: UInt32 = 3
        static let nvidiaProprietary: UInt32 = 4
        static let intelProprietaryWindows: UInt32 = 5
        static let intelOpenSourceMesa: UInt32 = 6
        static let qualcommProprietary: UInt32 = 8
        static let moltenVK: UInt32 = 14
        static let mesaTurnip: UInt32 = 18
        static let mesaDozen: UInt32 = 23
        static let mesaNVK: UInt32 = 24
    }

    /// Two entries for one GPU: equal UUIDs, or equal valid LUIDs; MoltenVK pairs don't count (it reports
    /// one UUID for distinct GPUs on multi-GPU cards).
    static func sameGPU(_ a: VulkanPhysicalDevice, _ b: VulkanPhysicalDevice) -> Bool {
        if a.driverID == DriverID.moltenVK && b.driverID == DriverID.moltenVK { return false }
        let sameUUID = (a.uuid ?? []) == (b.uuid ?? [])
        let sameLUID = a.luid != nil && a.luid == b.luid
        return sameUUID || sameLUID
    }

    /// Lower is preferred; the ranking depends on the vendor of the device kept first.
    static func driverPriority(_ device: VulkanPhysicalDevice, vendor: UInt32) -> Int {
        guard let driver = device.driverID else { return Int.max }
        if driver == DriverID.mesaDozen { return 100 }
        let ranking: [UInt32]
        switch vendor {
        case 0x1002: ranking = [DriverID.mesaRADV, DriverID.amdOpenSource, DriverID.amdProprietary]
        case 0x8086: ranking = [DriverID.intelOpenSourceMesa, DriverID.intelProprietaryWindows]
        case 0x10de: ranking = [DriverID.nvidiaProprietary, DriverID.mesaNVK]
        case 0x5143: ranking = [DriverID.qualcommProprietary, DriverID.mesaTurnip]
        default: ranking = []
        }
        return ranking.firstIndex(of: driver).map { $0 + 1 } ?? Int.max
    }
}

/// Two lowercase hex digits.
func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
}
