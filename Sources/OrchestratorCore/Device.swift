/// What kind of compute device a driver found.
public enum DeviceKind: String, Sendable, Codable, CaseIterable {
    case discrete
    case integrated
    /// Host memory and cores, or a CPU-type Vulkan device such as Mesa's lavapipe.
    case cpu
    /// A virtual or otherwise unclassified GPU (Vulkan's `VIRTUAL_GPU` and `OTHER` device types).
    case virtual
}

/// A device as a backend driver reports it: identity, llama.cpp's name for it, and its memory.
public struct Device: Sendable, Codable, Equatable, Hashable {
    /// Stable across runs: a UUID or PCI bus id where known, else the driver's own key (`cpu`, `static:GPU-A`).
    public var id: String
    /// The driver that found it (`vulkan`, `cpu`, `fallback`, `static`, ...).
    public var backend: String
    /// How llama.cpp names it for `--device` (`Vulkan0`, `CUDA1`), or `nil` for host memory.
    public var llamaName: String?
    /// A human description (`NVIDIA GeForce RTX 4090`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    public var description: String
    public var kind: DeviceKind
    /// Vendor name or id (`0x10de`), when known.
    public var vendor: String?
    public var totalBytes: UInt64
    public var freeBytes: UInt64
    /// PCI bus id (`0000:29:00.0`), when known.
    public var pciBusID: String?
    /// Device UUID as 32 hex digits, when known.
    public var uuid: String?
    /// The driver's raw index (Vulkan's `vkEnumeratePhysicalDevices` position), when it has one.
    public var rawIndex: Int?
    /// The largest single tensor the device's backend accepts (Vulkan: the storage-buffer range), when limited:
    /// newer llama.cpp builds keep a larger weight in host memory even when its layer is placed here.
    public var maxTensorBytes: UInt64?
    /// Driver-specific facts worth showing (`driver`, `api_version`, heaps): shown by `devices --json`.
    public var details: [String: String]

    public init(
        id: String, backend: String, llamaName: String?, description: String, kind: DeviceKind,
        vendor: String? = nil, totalBytes: UInt64, freeBytes: UInt64, pciBusID: String? = nil,
        uuid: String? = nil, rawIndex: Int? = nil, maxTensorBytes: UInt64? = nil, details: [String: String] = [:]
    ) {
        self.maxTensorBytes = maxTensorBytes
        self.id = id
        self.backend = backend
        self.llamaName = llamaName
        self.description = description
        self.kind = kind
        self.vendor = vendor
        self.totalBytes = totalBytes
        self.freeBytes = min(freeBytes, totalBytes)
        self.pciBusID = pciBusID
        self.uuid = uuid
        self.rawIndex = rawIndex
        self.details = details
    }

    /// Whether this entry stands for host memory rather than an accelerator.
    ///
    /// A CPU-type accelerator such as lavapipe is `cpu` kind too, but it has a raw index (or a llama.cpp
    /// name) through which llama-server can select it; the host has neither.
    public var isHost: Bool { kind == .cpu && llamaName == nil && rawIndex == nil }

    /// Whether this is a GPU llama-server can be told to use: not CPU-type, and named or selectable by index.
    ///
    /// `auto` picks the first driver that finds one of these; lavapipe (CPU-type) doesn't count.
    public var isUsableGPU: Bool { kind != .cpu && (llamaName != nil || rawIndex != nil) }
}
