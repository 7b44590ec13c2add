import Foundation
import OrchestratorCore

/// What the placer needs to know about one instance's memory, in the units llama.cpp offloads: the
/// repeating blocks `blk.0 … blk.N-1` and the output layer (index N).
///
/// Built from the GGUF profile and the memory estimator for the instance's context, slots and cache
/// types; the placer only adds and compares these numbers.
public struct InstanceDemand: Sendable, Equatable, Codable {
    /// The instance name.
    public var name: String
    /// Bytes a block needs on the device that holds it: its weights and its share of the KV cache.
    public var blockBytes: [UInt64]
    /// Bytes of the output layer (output norm and matrix) on the device that holds it.
    public var outputBytes: UInt64
    /// Bytes each GPU in use needs besides its layers (compute buffer, overhead).
    public var perDeviceBytes: UInt64
    /// Host bytes needed whatever the placement (token embedding, output logits, host compute buffer).
    public var hostBaseBytes: UInt64
    /// Host bytes of each block when it stays in host memory (its weights, the CPU backend's repacked copies,
    /// its KV cache; the lowest block also carries the host compute buffer that running any block needs).
    public var hostBlockBytes: [UInt64]
    /// Host bytes of the output layer when it stays in host memory.
    public var hostOutputBytes: UInt64
    /// KV cache bytes per context cell over all layers: used to suggest a context that would fit.
    public var kvBytesPerCell: UInt64
    /// The context the demand was computed for.
    public var contextSize: Int

    public init(
        name: String, blockBytes: [UInt64], outputBytes: UInt64, perDeviceBytes: UInt64, hostBaseBytes: UInt64,
        hostBlockBytes: [UInt64]? = nil, hostOutputBytes: UInt64? = nil, kvBytesPerCell: UInt64 = 0,
        contextSize: Int = 0
    ) {
        self.name = name
        self.blockBytes = blockBytes
        self.outputBytes = outputBytes
        self.perDeviceBytes = perDeviceBytes
        self.hostBaseBytes = hostBaseBytes
        self.hostBlockBytes = hostBlockBytes ?? blockBytes
        self.hostOutputBytes = hostOutputBytes ?? outputBytes
        self.kvBytesPerCell = kvBytesPerCell
        self.contextSize = contextSize
    }

    public var blockCount: Int { blockBytes.count }
    /// Everything the model's layers need, wherever they go.
    public var layerBytes: UInt64 { blockBytes.reduce(0, +) + outputBytes }
    /// Host bytes when nothing is offloaded.
    public var cpuOnlyHostBytes: UInt64 { hostBaseBytes + hostBlockBytes.reduce(0, +) + hostOutputBytes }
    /// Host bytes when the lowest `hostBlocks` blocks (and the output layer unless `outputOffloaded`) stay there.
    public func hostBytes(hostBlocks: Int, outputOffloaded: Bool) -> UInt64 {
        hostBaseBytes + hostBlockBytes.prefix(hostBlocks).reduce(0, +) + (outputOffloaded ? 0 : hostOutputBytes)
    }
    /// The total for a one-GPU placement (layers and one device's fixed part).
    public var fullOffloadBytes: UInt64 { layerBytes + perDeviceBytes }
}

/// The pins and wishes from an instance's config that constrain its placement.
public struct PlacementRequest: Sendable, Equatable {
    public var demand: InstanceDemand
    /// `gpu.device_id` or `gpu.devices`, in order; empty means any device.
    public var pinnedDevices: [DeviceSelector]
    /// `gpu.layers`.
    public var layers: LayerCount

    public init(demand: InstanceDemand, pinnedDevices: [DeviceSelector] = [], layers: LayerCount = .auto) {
        self.demand = demand
        self.pinnedDevices = pinnedDevices
        self.layers = layers
    }
}

/// How the placer chooses among devices that could all hold an instance.
public struct PlacementPolicy: Sendable, Equatable, Codable {
    public enum Strategy: String, Sendable, Codable, CaseIterable {
        /// Fill the device with the least room that fits, keeping big devices free for big models.
        case pack
        /// Use the device with the most room, spreading load.
        case spread
    }

    public var strategy: Strategy
    /// Headroom kept free on each device; `nil` means 1 GiB or 10 % of the device, whichever is smaller.
    public var headroomBytes: UInt64?

    public init(strategy: Strategy = .pack, headroomBytes: UInt64? = nil) {
        self.strategy = strategy
        self.headroomBytes = headroomBytes
    }

    /// The headroom for a device of `total` bytes.
    public func headroom(forTotal total: UInt64) -> UInt64 {
        headroomBytes ?? min(1 << 30, total / 10)
    }
}

/// Why an instance could not be placed, with the numbers and what would make it fit.
public struct PlacementRefusal: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public struct Shortfall: Sendable, Equatable, Codable {
        public var device: String
        public var neededBytes: UInt64
        public var availableBytes: UInt64
    }

    public var instance: String
    public var reason: String
    public var shortfalls: [Shortfall]
    public var suggestions: [String]

    public var description: String {
        var text = "\(instance): \(reason)"
        for shortfall in shortfalls {
            text +=
                "\n  \(shortfall.device): needs \(formatBytes(shortfall.neededBytes)), "
                + "\(formatBytes(shortfall.availableBytes)) available"
        }
        for suggestion in suggestions { text += "\n  try: \(suggestion)" }
        return text
    }
}

/// The outcome for every instance of one planning round.
public struct PlacementPlan: Sendable, Equatable, Codable {
    public var placements: [Placement]
    public var refusals: [PlacementRefusal]
}

/// Placement failed for at least one instance.
public struct PlacementError: OrchestratorError {
    public var refusals: [PlacementRefusal]

    public init(refusals: [PlacementRefusal]) {
        self.refusals = refusals
    }

    public var exitCode: OrchestratorExitCode { .placementImpossible }
    public var description: String { refusals.map(\.description).joined(separator: "\n") }
}

/// Bytes as a person reads them: `512 MiB`, `7.25 GiB`.
public func formatBytes(_ bytes: UInt64) -> String {
    let mib = Double(bytes) / 1_048_576
    if mib < 1 { return "\(bytes / 1024) KiB" }
    if mib < 1024 { return mib < 10 ? String(format1(mib)) + " MiB" : "\(Int(mib.rounded())) MiB" }
    return format2(mib / 1024) + " GiB"
}

private func format1(_ value: Double) -> String { String((value * 10).rounded() / 10) }
private func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
