import GGUF

/// Little-endian GGUF encoding of fields, for the writer and for tests that craft hostile files by hand.
public struct GGUFBytes: Sendable {
    /// The bytes so far.
    public var bytes: [UInt8] = []

    /// An empty buffer.
    public init() {}

    /// Appends an integer in little-endian order.
    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        var little = value.littleEndian
        withUnsafeBytes(of: &little) { bytes.append(contentsOf: $0) }
    }

    /// Appends raw bytes.
    public mutating func append(raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// Appends a GGUF string: u64 length, then UTF-8 bytes.
    public mutating func append(string: String) {
        append(UInt64(string.utf8.count))
        bytes.append(contentsOf: string.utf8)
    }

    /// Appends the GGUF header: magic, version, tensor count, metadata count.
    public mutating func appendHeader(version: UInt32 = 3, tensorCount: UInt64, keyCount: UInt64) {
        append(raw: Array("GGUF".utf8))
        append(version)
        append(tensorCount)
        append(keyCount)
    }

    /// Appends a key, the value's type id and the value.
    public mutating func append(key: String, value: GGUFValue) {
        append(string: key)
        append(value.type.rawValue)
        append(value: value)
    }

    /// Appends a value without its type id (as in an array).
    public mutating func append(value: GGUFValue) {
        switch value {
        case .uint8(let v): append(v)
        case .int8(let v): append(v)
        case .uint16(let v): append(v)
        case .int16(let v): append(v)
        case .uint32(let v): append(v)
        case .int32(let v): append(v)
        case .float32(let v): append(v.bitPattern)
        case .bool(let v): append(UInt8(v ? 1 : 0))
        case .string(let v): append(string: v)
        case .uint64(let v): append(v)
        case .int64(let v): append(v)
        case .float64(let v): append(v.bitPattern)
        case .array(let array):
            append(array.elementType.rawValue)
            append(UInt64(array.count))
            switch array {
            case .uint8(let v): v.forEach { append($0) }
            case .int8(let v): v.forEach { append($0) }
            case .uint16(let v): v.forEach { append($0) }
            case .int16(let v): v.forEach { append($0) }
            case .uint32(let v): v.forEach { append($0) }
            case .int32(let v): v.forEach { append($0) }
            case .float32(let v): v.forEach { append($0.bitPattern) }
            case .bool(let v): v.forEach { append(UInt8($0 ? 1 : 0)) }
            case .string(let v): v.forEach { append(string: $0) }
            case .uint64(let v): v.forEach { append($0) }
            case .int64(let v): v.forEach { append($0) }
            case .float64(let v): v.forEach { append($0.bitPattern) }
            case .array(let v): v.forEach { append(value: .array($0)) }
            }
        }
    }

    /// Appends a tensor info: name, dimension count, dimensions, type id, offset.
    public mutating func appendTensorInfo(name: String, dimensions: [UInt64], typeID: UInt32, offset: UInt64) {
        append(string: name)
        append(UInt32(dimensions.count))
        dimensions.forEach { append($0) }
        append(typeID)
        append(offset)
    }

    /// Pads with zeros to a multiple of `alignment`.
    public mutating func pad(to alignment: Int) {
        let extra = (alignment - bytes.count % alignment) % alignment
        bytes.append(contentsOf: [UInt8](repeating: 0, count: extra))
    }
}
