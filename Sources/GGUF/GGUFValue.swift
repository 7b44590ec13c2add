/// The type of a GGUF metadata value, as the id stored before it.
public enum GGUFValueType: UInt32, Sendable, Codable, CaseIterable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// The fewest bytes one value of this type takes in a file; bounds counts before anything is allocated.
    var minimumBytes: UInt64 {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// One metadata value: a scalar, a string, or an array of values of one type (arrays may nest).
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value's type.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an integer, when it is an integer of any width that fits in `Int`.
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(exactly: v)
        case .bool(let v): v ? 1 : 0
        default: nil
        }
    }

    /// The value as a floating-point number, when it is a number.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: intValue.map(Double.init)
        }
    }

    /// The value as a string, when it is one.
    public var stringValue: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements, when the value is an array.
    public var arrayValue: [GGUFValue]? {
        if case .array(let array) = self { return array.values }
        return nil
    }

    /// The array, when the value is one.
    public var array: GGUFArray? {
        if case .array(let array) = self { return array }
        return nil
    }
}

extension GGUFValue: Encodable {
    /// Encodes as the plain JSON value (number, boolean, string, array).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .uint8(let v): try container.encode(v)
        case .int8(let v): try container.encode(v)
        case .uint16(let v): try container.encode(v)
        case .int16(let v): try container.encode(v)
        case .uint32(let v): try container.encode(v)
        case .int32(let v): try container.encode(v)
        case .float32(let v): try container.encode(v.isFinite ? Double(v) : 0)
        case .bool(let v): try container.encode(v)
        case .string(let v): try container.encode(v)
        case .array(let array): try container.encode(array.values)
        case .uint64(let v): try container.encode(v)
        case .int64(let v): try container.encode(v)
        case .float64(let v): try container.encode(v.isFinite ? v : 0)
        }
    }
}

/// One metadata key and its value, in file order.
public struct GGUFMetadataEntry: Sendable, Equatable {
    /// The key (`general.architecture`).
    public let key: String
    /// The value.
    public let value: GGUFValue
    /// Byte offset of the key in the file.
    public let offset: UInt64
}

/// The metadata of a GGUF file: keys in file order and lookup by key.
public struct GGUFMetadata: Sendable, Equatable {
    /// The entries in file order.
    public let entries: [GGUFMetadataEntry]
    private let index: [String: Int]

    /// Builds metadata from entries whose keys are unique.
    init(entries: [GGUFMetadataEntry]) {
        self.entries = entries
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() { index[entry.key] = position }
        self.index = index
    }

    /// The value of a key, or `nil`.
    public subscript(key: String) -> GGUFValue? { index[key].map { entries[$0].value } }

    /// The entry of a key, or `nil`.
    public func entry(_ key: String) -> GGUFMetadataEntry? { index[key].map { entries[$0] } }

    /// The keys in file order.
    public var keys: [String] { entries.map(\.key) }
}

/// An array value, stored compactly by element type so that memory stays proportional to the file.
public enum GGUFArray: Sendable, Equatable {
    case uint8([UInt8])
    case int8([Int8])
    case uint16([UInt16])
    case int16([Int16])
    case uint32([UInt32])
    case int32([Int32])
    case float32([Float])
    case bool([Bool])
    case string([String])
    case array([GGUFArray])
    case uint64([UInt64])
    case int64([Int64])
    case float64([Double])

    /// The type of the elements.
    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The number of elements.
    public var count: Int {
        switch self {
        case .uint8(let v): v.count
        case .int8(let v): v.count
        case .uint16(let v): v.count
        case .int16(let v): v.count
        case .uint32(let v): v.count
        case .int32(let v): v.count
        case .float32(let v): v.count
        case .bool(let v): v.count
        case .string(let v): v.count
        case .array(let v): v.count
        case .uint64(let v): v.count
        case .int64(let v): v.count
        case .float64(let v): v.count
        }
    }

    /// The elements as values (allocates; prefer ``prefix(_:)`` for long arrays).
    public var values: [GGUFValue] { prefix(count) }

    /// The first `n` elements as values.
    public func prefix(_ n: Int) -> [GGUFValue] {
        switch self {
        case .uint8(let v): v.prefix(n).map(GGUFValue.uint8)
        case .int8(let v): v.prefix(n).map(GGUFValue.int8)
        case .uint16(let v): v.prefix(n).map(GGUFValue.uint16)
        case .int16(let v): v.prefix(n).map(GGUFValue.int16)
        case .uint32(let v): v.prefix(n).map(GGUFValue.uint32)
        case .int32(let v): v.prefix(n).map(GGUFValue.int32)
        case .float32(let v): v.prefix(n).map(GGUFValue.float32)
        case .bool(let v): v.prefix(n).map(GGUFValue.bool)
        case .string(let v): v.prefix(n).map(GGUFValue.string)
        case .array(let v): v.prefix(n).map(GGUFValue.array)
        case .uint64(let v): v.prefix(n).map(GGUFValue.uint64)
        case .int64(let v): v.prefix(n).map(GGUFValue.int64)
        case .float64(let v): v.prefix(n).map(GGUFValue.float64)
        }
    }
}
