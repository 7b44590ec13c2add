import Foundation

/// Bytes one place (a device, or host memory) needs for an instance, by what llama.cpp uses them for.
///
/// The scheduler compares `total` against free memory; the parts say why and are what `inspect` and the
/// accuracy bench print.
public struct Usage: Sendable, Codable, Equatable {
    /// Model weights (for the host: the mapped model file plus the CPU backend's repacked copies).
    public var weights: UInt64
    /// The KV cache.
    public var kvCache: UInt64
    /// Compute buffers (the worst-case graph's intermediate tensors).
    public var compute: UInt64
    /// The output (logits) buffer.
    public var output: UInt64
    /// What no buffer accounts for: backend contexts, driver scratch, a safety margin (a parameter).
    public var overhead: UInt64

    /// Everything above.
    public var total: UInt64 { weights + kvCache + compute + output + overhead }

    /// Everything llama.cpp reports as buffers (all but the overhead): what the accuracy bench compares.
    public var buffers: UInt64 { weights + kvCache + compute + output }

    /// Nothing.
    public static let zero = Usage(weights: 0, kvCache: 0, compute: 0, output: 0, overhead: 0)

    /// A usage from its parts.
    public init(weights: UInt64, kvCache: UInt64, compute: UInt64, output: UInt64, overhead: UInt64) {
        self.weights = weights
        self.kvCache = kvCache
        self.compute = compute
        self.output = output
        self.overhead = overhead
    }

    private enum CodingKeys: String, CodingKey { case weights, kvCache, compute, output, overhead, total }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        weights = try container.decode(UInt64.self, forKey: .weights)
        kvCache = try container.decode(UInt64.self, forKey: .kvCache)
        compute = try container.decode(UInt64.self, forKey: .compute)
        output = try container.decode(UInt64.self, forKey: .output)
        overhead = try container.decode(UInt64.self, forKey: .overhead)
    }

    /// Encodes the parts and the total.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(weights, forKey: .weights)
        try container.encode(kvCache, forKey: .kvCache)
        try container.encode(compute, forKey: .compute)
        try container.encode(output, forKey: .output)
        try container.encode(overhead, forKey: .overhead)
        try container.encode(total, forKey: .total)
    }

    /// The sum of two usages, part by part.
    public static func + (lhs: Usage, rhs: Usage) -> Usage {
        Usage(
            weights: lhs.weights + rhs.weights, kvCache: lhs.kvCache + rhs.kvCache, compute: lhs.compute + rhs.compute,
            output: lhs.output + rhs.output, overhead: lhs.overhead + rhs.overhead)
    }
}

/// What one device holds for an instance: which layers and how many bytes.
public struct DeviceUsage: Sendable, Codable, Equatable {
    /// The device, as the placement named it (llama.cpp's name, e.g. `Vulkan0`).
    public var device: String
    /// The layer indices on this device; index `layerCount` is the output layer.
    public var layers: [Int]
    /// The bytes.
    public var usage: Usage
}

/// The memory an instance needs, per device and in host memory: the contract between the estimator and the
/// scheduler's placer.
public struct MemoryEstimate: Sendable, Codable, Equatable {
    /// One entry per device in the placement, in the order given.
    public var perDevice: [DeviceUsage]
    /// Host (system) memory: token embedding, host layers, output buffer, CPU compute buffer.
    public var host: Usage
    /// The block layers (and output layer, index `layerCount`) left in host memory.
    public var hostLayers: [Int]
    /// KV cells per layer kind, after llama.cpp's padding: what the KV figures were computed from.
    public var kvCells: KVCells
    /// Of the host's weights: the span of the model file left mapped (`CPU_Mapped`) ...
    public var hostMappedBytes: UInt64 = 0
    /// ... and the CPU backend's repacked copies (`CPU_REPACK`).
    public var hostRepackedBytes: UInt64 = 0
    /// What op offload adds to the first device's compute buffer, when it does.
    public var opOffload: OpOffload?
    /// Weights of layers placed on a device that stay in host memory: larger than the device takes.
    public var refusedByDevice: [String] = []

    /// Copies of host-resident weights the first GPU holds to multiply large batches (llama.cpp's op offload).
    public struct OpOffload: Sendable, Codable, Equatable {
        /// The device.
        public var device: String
        /// The weights whose copies are alive together at the peak.
        public var weights: [String]
        /// Bytes the device's compute buffer holds beyond its own graph for them (copies and their results).
        public var bytes: UInt64
    }

    /// KV cells as llama.cpp allocates them.
    public struct KVCells: Sendable, Codable, Equatable {
        /// The context after padding to 256 (and to a multiple of the slots without a unified cache).
        public var context: Int
        /// Cells per stream (per slot without a unified cache, else all of them).
        public var perStream: Int
        /// Streams: the slots without a unified cache, else 1.
        public var streams: Int
        /// Cells of a sliding-window layer, over all streams.
        public var slidingWindow: Int?
    }

    /// Host plus every device.
    public var total: Usage { perDevice.reduce(host) { $0 + $1.usage } }
}

extension MemoryEstimate {
    /// What `plan` says about an estimate beyond its bytes: whether op offload adds to the first GPU (and what it
    /// would save to turn it off), and which part is least certain, by how much (from bench/ESTIMATOR.md's grid).
    public func notes(legacy: Bool) -> [String] {
        func mib(_ bytes: UInt64) -> String { String(format: "%.0f MiB", Double(bytes) / 1_048_576) }
        var notes: [String] = []
        if !refusedByDevice.isEmpty {
            let names = refusedByDevice.prefix(3).joined(separator: ", ") + (refusedByDevice.count > 3 ? ", ..." : "")
            notes.append(
                "\(names) stay\(refusedByDevice.count == 1 ? "s" : "") in host memory: larger than the device's "
                    + "largest tensor (newer llama.cpp keeps such weights on the CPU even when their layer is offloaded)"
            )
        }
        if let opOffload, opOffload.bytes > 0 {
            let weights =
                opOffload.weights.prefix(3).joined(separator: ", ") + (opOffload.weights.count > 3 ? ", ..." : "")
            notes.append(
                "op offload (llama.cpp's default) is priced in: \(opOffload.device) also holds \(mib(opOffload.bytes)) "
                    + "for large batches on host-resident weights (\(weights)); '--no-op-offload' in args saves it on the "
                    + "GPU but moves that work, and its buffers, to the CPU (slower prompts)")
        }
        if let device = perDevice.first(where: { !$0.layers.isEmpty }) {
            let range = legacy ? "-4 to +16 MiB" : "-7 to +42 MiB"
            notes.append(
                "least certain: the \(device.device) compute buffer (\(mib(device.usage.compute))); measured with Vulkan "
                    + "on this build within \(range); CUDA and ROCm graphs are not measured here")
        } else {
            notes.append(
                "least certain: the compute buffer (\(mib(host.compute))); measured on the CPU within -0.3 to +3 MiB")
        }
        return notes
    }
}
