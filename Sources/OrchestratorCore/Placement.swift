// Where the scheduler put an instance: the devices, the layers and bytes each holds, and why. The scheduler
// makes these; runs record them; `ps`, `describe`, the dashboard and later placements read them.

/// How an instance runs.
public enum PlacementMode: String, Sendable, Codable {
    case singleGPU = "one-gpu"
    case multiGPU = "split-gpus"
    case partialOffload = "partial-offload"
    case cpuOnly = "cpu-only"
}

/// The layers and bytes one device gets.
public struct DeviceShare: Sendable, Equatable, Codable {
    public var deviceID: String
    public var llamaName: String?
    /// Blocks `firstBlock ..< firstBlock + blockCount`.
    public var firstBlock: Int
    public var blockCount: Int
    public var holdsOutput: Bool
    public var bytes: UInt64

    public init(
        deviceID: String, llamaName: String?, firstBlock: Int, blockCount: Int, holdsOutput: Bool, bytes: UInt64
    ) {
        self.deviceID = deviceID
        self.llamaName = llamaName
        self.firstBlock = firstBlock
        self.blockCount = blockCount
        self.holdsOutput = holdsOutput
        self.bytes = bytes
    }
}

/// Where one instance goes, how many bytes each device holds, and why.
public struct Placement: Sendable, Equatable, Codable {
    public var instance: String
    public var mode: PlacementMode
    /// GPU shares in `--tensor-split` order; empty for CPU only.
    public var shares: [DeviceShare]
    /// Blocks offloaded to GPUs in total.
    public var offloadedBlocks: Int
    public var offloadsOutput: Bool
    public var blockCount: Int
    public var hostBytes: UInt64
    /// Sentences a person can follow: what was tried and why this was chosen.
    public var reasons: [String]

    public init(
        instance: String, mode: PlacementMode, shares: [DeviceShare], offloadedBlocks: Int, offloadsOutput: Bool,
        blockCount: Int, hostBytes: UInt64, reasons: [String]
    ) {
        self.instance = instance
        self.mode = mode
        self.shares = shares
        self.offloadedBlocks = offloadedBlocks
        self.offloadsOutput = offloadsOutput
        self.blockCount = blockCount
        self.hostBytes = hostBytes
        self.reasons = reasons
    }

    /// Layer units on GPUs, counting the output layer as one (llama.cpp's "offloaded N/M layers").
    public var offloadedUnits: Int { offloadedBlocks + (offloadsOutput ? 1 : 0) }
    public var isFullOffload: Bool { offloadedBlocks == blockCount && offloadsOutput }
}
