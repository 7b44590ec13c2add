import Foundation
import GGUF

/// What a tensor's data is when the writer lays it out.
public enum TensorContent: Sendable, Equatable {
    /// All zeros; in a sparse file these bytes are never written (a hole).
    case zeros
    /// Every element 1.0 (norm weights); F32 and F16 only.
    case ones
    /// Deterministic pseudo-random values (valid blocks for quantized types), from a seed.
    case random(seed: UInt64)
    /// Exactly these bytes.
    case bytes([UInt8])
}

/// A tensor for the writer: name, shape (innermost first), type and content.
public struct TensorSpec: Sendable, Equatable {
    /// The tensor's name (`blk.0.attn_q.weight`).
    public var name: String
    /// Elements per dimension, innermost first.
    public var dimensions: [UInt64]
    /// The element type.
    public var type: GGMLType
    /// What the data is.
    public var content: TensorContent

    /// Describes one tensor.
    public init(_ name: String, _ dimensions: [UInt64], _ type: GGMLType, _ content: TensorContent = .zeros) {
        self.name = name
        self.dimensions = dimensions
        self.type = type
        self.content = content
    }

    /// Bytes of data.
    public var byteCount: UInt64 {
        let elements = dimensions.reduce(1, *)
        return elements / type.blockElements * type.blockBytes
    }
}

/// Writes GGUF files (version 3 unless told otherwise) that llama.cpp loads: metadata, tensor infos, aligned data.
///
/// Tests and the demo need real model files without downloading any; the writer makes them from a
/// description. Large models are written sparse (header, then a hole where zero data would be), so a file of
/// hundreds of MB costs a few KB of disk and no time.
public struct GGUFWriter: Sendable {
    /// The format version written.
    public var version: UInt32 = 3
    /// The data alignment; written as `general.alignment` when not 32.
    public var alignment: UInt32 = 32
    /// Metadata in the order written.
    public var metadata: [(key: String, value: GGUFValue)] = []
    /// Tensors in the order written.
    public var tensors: [TensorSpec] = []

    /// An empty model.
    public init() {}

    /// Adds (or replaces) a metadata key.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.key == key }) {
            metadata[index].value = value
        } else {
            metadata.append((key, value))
        }
    }

    /// Adds a tensor.
    public mutating func add(_ tensor: TensorSpec) { tensors.append(tensor) }

    /// Offsets of each tensor relative to the data section, and the data section's size.
    public func layout() -> (offsets: [UInt64], dataBytes: UInt64) {
        var offsets: [UInt64] = []
        var position: UInt64 = 0
        let align = UInt64(alignment)
        for tensor in tensors {
            offsets.append(position)
            position += tensor.byteCount
            position = (position + align - 1) / align * align
        }
        return (offsets, position)
    }

    /// The header: everything before the data section, padded to the alignment.
    public func headerBytes() -> [UInt8] {
        var out = GGUFBytes()
        var entries = metadata
        if alignment != 32, !entries.contains(where: { $0.key == "general.alignment" }) {
            entries.append(("general.alignment", .uint32(alignment)))
        }
        out.appendHeader(version: version, tensorCount: UInt64(tensors.count), keyCount: UInt64(entries.count))
        for entry in entries { out.append(key: entry.key, value: entry.value) }
        let offsets = layout().offsets
        for (tensor, offset) in zip(tensors, offsets) {
            out.appendTensorInfo(
                name: tensor.name, dimensions: tensor.dimensions, typeID: tensor.type.id, offset: offset)
        }
        out.pad(to: Int(alignment))
        return out.bytes
    }

    /// The whole file in memory (small models only).
    public func bytes() -> [UInt8] {
        var out = headerBytes()
        let base = out.count
        let (offsets, dataBytes) = layout()
        out.append(contentsOf: [UInt8](repeating: 0, count: Int(dataBytes)))
        for (tensor, offset) in zip(tensors, offsets) where tensor.content != .zeros {
            let data = TensorData.make(tensor)
            out.replaceSubrange((base + Int(offset))..<(base + Int(offset) + data.count), with: data)
        }
        return out
    }

    /// Writes the file; zero tensors become holes, so large models cost little disk and time.
    public func write(to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let header = headerBytes()
        try handle.write(contentsOf: Data(header))
        let (offsets, dataBytes) = layout()
        for (tensor, offset) in zip(tensors, offsets) where tensor.content != .zeros {
            try handle.seek(toOffset: UInt64(header.count) + offset)
            try handle.write(contentsOf: Data(TensorData.make(tensor)))
        }
        try handle.truncate(atOffset: UInt64(header.count) + dataBytes)
    }

    /// Splits the model into `count` shards as `gguf-split` does (metadata in the first, tensors spread) and
    /// writes them as `PREFIX-0000K-of-0000N.gguf`; returns the paths.
    public func writeSplit(prefix: String, count: Int) throws -> [String] {
        precondition(count >= 1)
        var paths: [String] = []
        let perShard = (tensors.count + count - 1) / count
        for shard in 0..<count {
            var part = GGUFWriter()
            part.version = version
            part.alignment = alignment
            if shard == 0 { part.metadata = metadata }
            part.set("split.no", .uint16(UInt16(shard)))
            part.set("split.count", .uint16(UInt16(count)))
            part.set("split.tensors.count", .int32(Int32(tensors.count)))
            part.tensors = Array(tensors.dropFirst(shard * perShard).prefix(perShard))
            let path = prefix + "-" + fiveDigits(shard + 1) + "-of-" + fiveDigits(count) + ".gguf"
            try part.write(to: path)
            paths.append(path)
        }
        return paths
    }

    private func fiveDigits(_ value: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }
}

/// Tensor contents as bytes.
enum TensorData {
    static func make(_ tensor: TensorSpec) -> [UInt8] {
        let count = Int(tensor.byteCount)
        switch tensor.content {
        case .zeros: return [UInt8](repeating: 0, count: count)
        case .bytes(let bytes): return bytes
        case .ones:
            var out = GGUFBytes()
            let elements = Int(tensor.dimensions.reduce(1, *))
            for _ in 0..<elements {
                if tensor.type == .f16 { out.append(halfBits(1)) } else { out.append(Float(1).bitPattern) }
            }
            return out.bytes
        case .random(let seed):
            var generator = SplitMix64(seed: seed)
            var out = GGUFBytes()
            out.bytes.reserveCapacity(count)
            let blocks = Int(tensor.dimensions.reduce(1, *) / tensor.type.blockElements)
            for _ in 0..<blocks {
                switch tensor.type {
                case .f32: out.append(generator.nextFloat(scale: 0.05).bitPattern)
                case .f16: out.append(halfBits(generator.nextFloat(scale: 0.05)))
                case .q8_0, .q4_0:
                    // A small f16 scale, then random quants: a valid block of either type.
                    out.append(halfBits(0.002))
                    for _ in 0..<(Int(tensor.type.blockBytes) - 2) {
                        out.append(UInt8(truncatingIfNeeded: generator.next()))
                    }
                default:
                    out.append(raw: [UInt8](repeating: 0, count: Int(tensor.type.blockBytes)))
                }
            }
            return out.bytes
        }
    }

    /// IEEE half-precision bits of a float (round to nearest, no subnormal output).
    static func halfBits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        let mantissa = bits & 0x7F_FFFF
        if value == 0 || exponent <= 0 { return sign }
        if exponent >= 31 { return sign | 0x7C00 }
        let rounded = (UInt16(exponent) << 10) &+ UInt16((mantissa + 0x1000) >> 13)
        return sign | rounded
    }
}

/// A small, fast, seedable generator so fixtures are the same on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator from a seed.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A float uniformly in [-scale, scale].
    mutating func nextFloat(scale: Float) -> Float {
        Float(next() >> 40) / Float(1 << 24) * 2 * scale - scale
    }
}
