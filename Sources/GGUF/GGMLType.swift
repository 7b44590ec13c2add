/// A ggml tensor element type as stored in a GGUF tensor info: its id, name and block layout.
///
/// Sizes come from blocks: a row of `n` elements of a quantized type takes `n / blockElements` blocks of
/// `blockBytes` bytes each. New ids keep arriving in llama.cpp, so an unknown id is an error naming it,
/// never a type of zero bytes; ids that llama.cpp retired are refused the same way.
public struct GGMLType: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The id stored in the file.
    public let id: UInt32
    /// llama.cpp's name, upper case (`Q4_K`, `F16`).
    public let name: String
    /// Elements per block (1 for plain types).
    public let blockElements: UInt64
    /// Bytes per block.
    public let blockBytes: UInt64

    public var description: String { name }

    /// Whether the type is a block-quantized type (anything but the plain float and integer types).
    public var isQuantized: Bool { blockElements > 1 }

    /// Bytes of a row of `elements` elements, or `nil` when `elements` is not a whole number of blocks.
    public func rowBytes(_ elements: UInt64) -> UInt64? {
        guard elements % blockElements == 0 else { return nil }
        let (bytes, overflow) = (elements / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// Bytes of a row of `elements` elements rounded up to whole blocks; for sizing caches and buffers.
    public func paddedRowBytes(_ elements: UInt64) -> UInt64 {
        (elements + blockElements - 1) / blockElements * blockBytes
    }

    private init(_ id: UInt32, _ name: String, _ blockElements: UInt64, _ blockBytes: UInt64) {
        self.id = id
        self.name = name
        self.blockElements = blockElements
        self.blockBytes = blockBytes
    }

    /// 32-bit float.
    public static let f32 = GGMLType(0, "F32", 1, 4)
    /// 16-bit float.
    public static let f16 = GGMLType(1, "F16", 1, 2)
    /// 4-bit blocks of 32 with an f16 scale.
    public static let q4_0 = GGMLType(2, "Q4_0", 32, 18)
    /// 4-bit blocks of 32 with scale and minimum.
    public static let q4_1 = GGMLType(3, "Q4_1", 32, 20)
    /// 5-bit blocks of 32.
    public static let q5_0 = GGMLType(6, "Q5_0", 32, 22)
    /// 5-bit blocks of 32 with minimum.
    public static let q5_1 = GGMLType(7, "Q5_1", 32, 24)
    /// 8-bit blocks of 32 with an f16 scale.
    public static let q8_0 = GGMLType(8, "Q8_0", 32, 34)
    /// 8-bit blocks of 32 with scale and sum.
    public static let q8_1 = GGMLType(9, "Q8_1", 32, 36)
    /// 16-bit brain float.
    public static let bf16 = GGMLType(30, "BF16", 1, 2)

    /// Every type llama.cpp can store in a GGUF file, by id (REFERENCE.md's table).
    public static let all: [GGMLType] = [
        f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q8_1,
        GGMLType(10, "Q2_K", 256, 84), GGMLType(11, "Q3_K", 256, 110), GGMLType(12, "Q4_K", 256, 144),
        GGMLType(13, "Q5_K", 256, 176), GGMLType(14, "Q6_K", 256, 210), GGMLType(15, "Q8_K", 256, 292),
        GGMLType(16, "IQ2_XXS", 256, 66), GGMLType(17, "IQ2_XS", 256, 74), GGMLType(18, "IQ3_XXS", 256, 98),
        GGMLType(19, "IQ1_S", 256, 50), GGMLType(20, "IQ4_NL", 32, 18), GGMLType(21, "IQ3_S", 256, 110),
        GGMLType(22, "IQ2_S", 256, 82), GGMLType(23, "IQ4_XS", 256, 136), GGMLType(24, "I8", 1, 1),
        GGMLType(25, "I16", 1, 2), GGMLType(26, "I32", 1, 4), GGMLType(27, "I64", 1, 8),
        GGMLType(28, "F64", 1, 8), GGMLType(29, "IQ1_M", 256, 56), bf16,
        GGMLType(34, "TQ1_0", 256, 54), GGMLType(35, "TQ2_0", 256, 66), GGMLType(39, "MXFP4", 32, 17),
        GGMLType(40, "NVFP4", 64, 36), GGMLType(41, "Q1_0", 128, 18), GGMLType(42, "Q2_0", 64, 18),
    ]

    /// Ids llama.cpp once used and removed (Q4_2, Q4_3, the Q4_0_N_M and IQ4_NL_N_M repacked layouts).
    public static let retiredIDs: Set<UInt32> = [4, 5, 31, 32, 33, 36, 37, 38]

    private static let byID: [UInt32: GGMLType] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    private static let byName: [String: GGMLType] = Dictionary(
        uniqueKeysWithValues: all.map { ($0.name.lowercased(), $0) })

    /// The type with this id; `nil` for retired and unknown ids (see ``lookup(id:)`` for the reason).
    public static func known(id: UInt32) -> GGMLType? { byID[id] }

    /// The type with this name, case-insensitive (`q8_0`, `F16`), as llama-server's `--cache-type-k` takes it.
    public static func named(_ name: String) -> GGMLType? { byName[name.lowercased()] }

    /// The type with this id, or the reason there is none: retired or unknown to this build.
    public static func lookup(id: UInt32) -> Result<GGMLType, LookupFailure> {
        if let type = byID[id] { return .success(type) }
        return .failure(retiredIDs.contains(id) ? .retired(id) : .unknown(id))
    }

    /// Why a type id has no type.
    public enum LookupFailure: Error, Equatable, Sendable, CustomStringConvertible {
        /// An id llama.cpp removed; files using it must be converted again.
        case retired(UInt32)
        /// An id newer than this build, or garbage.
        case unknown(UInt32)

        public var description: String {
            switch self {
            case .retired(let id): "ggml type id \(id) is retired (removed from llama.cpp); convert the model again"
            case .unknown(let id): "unknown ggml type id \(id) (newer than this build, or a damaged file)"
            }
        }
    }
}
