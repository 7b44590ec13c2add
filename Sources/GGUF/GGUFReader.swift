/// A tensor as a GGUF file describes it: name, shape, type and where its data lies.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor's name (`blk.0.attn_q.weight`).
    public let name: String
    /// Elements per dimension, innermost first (ne0 is the row length).
    public let dimensions: [UInt64]
    /// The element type.
    public let type: GGMLType
    /// Offset of the data relative to the start of the data section of its file.
    public let offset: UInt64
    /// Bytes of data.
    public let byteCount: UInt64
    /// Number of elements (product of the dimensions).
    public let elementCount: UInt64
    /// Which shard of a split model holds it (0 for a single file).
    public var shard: Int
}

/// The parsed header of one GGUF file: version, metadata, tensor infos and the data layout.
public struct GGUFFile: Sendable, Equatable {
    /// The format version (2 or 3).
    public let version: UInt32
    /// The metadata in file order.
    public let metadata: GGUFMetadata
    /// The tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// The alignment of the data section and of each tensor (`general.alignment`, default 32).
    public let alignment: UInt64
    /// Where the data section starts: the end of the tensor infos rounded up to the alignment.
    public let dataOffset: UInt64
    /// The size of the file.
    public let fileSize: UInt64

    /// The default `general.alignment`.
    public static let defaultAlignment: UInt64 = 32
    /// The deepest nesting of arrays the reader accepts (an array of arrays is depth 2).
    public static let maximumNesting = 8
    /// The most dimensions a tensor can have (GGML_MAX_DIMS).
    public static let maximumDimensions: UInt32 = 4

    /// Reads the header of a GGUF file from a path; reads nothing past the tensor infos.
    public static func read(path: String) throws(GGUFError) -> GGUFFile {
        let source = try GGUFFileSource(path: path)
        do {
            return try read(from: source)
        } catch {
            throw error.inFile(path)
        }
    }

    /// Reads the header of a GGUF file from any byte source; the data section is never read.
    ///
    /// Every count and length is checked against the bytes left in the source before anything is
    /// allocated, so a hostile file costs at most its own size in memory and one pass in time.
    public static func read(from source: some GGUFByteSource) throws(GGUFError) -> GGUFFile {
        var cursor = ByteCursor(source: source)
        return try GGUFParser.parse(&cursor)
    }
}

/// Reads little-endian fields from a byte source through a bounded window.
struct ByteCursor<Source: GGUFByteSource> {
    let source: Source
    let size: UInt64
    /// The current offset in the source.
    private(set) var position: UInt64 = 0
    private var window: [UInt8] = []
    private var windowStart: UInt64 = 0
    static var windowSize: Int { 64 * 1024 }

    init(source: Source) {
        self.source = source
        self.size = source.size
    }

    /// Bytes left after the current position.
    var remaining: UInt64 { size > position ? size - position : 0 }

    /// Makes sure `count` bytes from the current position are in the window, or throws `truncated`.
    private mutating func ensure(_ count: Int, what: @autoclosure () -> String) throws(GGUFError) -> Int {
        let needed = UInt64(count)
        if position >= windowStart, position - windowStart + needed <= UInt64(window.count) {
            return Int(position - windowStart)
        }
        guard needed <= remaining else {
            throw GGUFError(
                .truncated, at: position,
                "file ends in \(what()): \(count) bytes needed, \(remaining) left")
        }
        window = try source.read(at: position, count: max(count, Self.windowSize))
        windowStart = position
        guard window.count >= count else {
            throw GGUFError(.truncated, at: position, "file ends in \(what()): short read")
        }
        return 0
    }

    mutating func readInteger<T: FixedWidthInteger>(
        _: T.Type, _ what: @autoclosure () -> String
    ) throws(GGUFError)
        -> T
    {
        let size = MemoryLayout<T>.size
        let start = try ensure(size, what: what())
        let value = window.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: start, as: T.self)) }
        position += UInt64(size)
        return value
    }

    /// Reads `count` bytes as UTF-8 text (invalid sequences become U+FFFD, as Python's reader shows them).
    mutating func readText(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> String {
        if count <= Self.windowSize {
            let start = try ensure(count, what: what())
            position += UInt64(count)
            return String(decoding: window[start..<(start + count)], as: UTF8.self)
        }
        return String(decoding: try readBytes(count, what()), as: UTF8.self)
    }

    mutating func readBytes(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> [UInt8] {
        if count <= Self.windowSize {
            let start = try ensure(count, what: what())
            position += UInt64(count)
            return Array(window[start..<(start + count)])
        }
        guard UInt64(count) <= remaining else {
            throw GGUFError(
                .truncated, at: position, "file ends in \(what()): \(count) bytes needed, \(remaining) left")
        }
        let bytes = try source.read(at: position, count: count)
        guard bytes.count == count else { throw GGUFError(.truncated, at: position, "file ends in \(what())") }
        position += UInt64(count)
        return bytes
    }
}

/// The GGUF grammar over a cursor.
enum GGUFParser {
    static func parse<S>(_ cursor: inout ByteCursor<S>) throws(GGUFError) -> GGUFFile {
        let magic = try cursor.readBytes(4, "the magic number")
        guard magic == Array("GGUF".utf8) else {
            let shown = magic.map { (32...126).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw GGUFError(.badMagic, at: 0, "magic is '\(shown)', expected 'GGUF'")
        }
        let version = try cursor.readInteger(UInt32.self, "the version")
        if version & 0xFFFF == 0 && version != 0 {
            throw GGUFError(
                .byteOrderMismatch, at: 4,
                "version field is 0x\(String(version, radix: 16)): the file was written with the other byte order "
                    + "(big-endian); convert it on this machine's byte order")
        }
        guard version == 2 || version == 3 else {
            throw GGUFError(
                .unsupportedVersion, at: 4,
                "version \(version) is not supported (2 and 3 are; 1 is obsolete, convert the model again)")
        }
        let tensorCountOffset = cursor.position
        let tensorCount = try cursor.readInteger(UInt64.self, "the tensor count")
        let keyCountOffset = cursor.position
        let keyCount = try cursor.readInteger(UInt64.self, "the metadata count")
        // Smallest tensor info: empty name (8), n_dims (4), type (4), offset (8).
        guard tensorCount <= cursor.remaining / 24 else {
            throw GGUFError(
                .implausibleCount, at: tensorCountOffset,
                "tensor count \(tensorCount) cannot fit in the \(cursor.remaining) bytes left (truncated or corrupt file)"
            )
        }
        // Smallest key-value: empty key (8), type (4), one-byte value (1).
        guard keyCount <= cursor.remaining / 13 else {
            throw GGUFError(
                .implausibleCount, at: keyCountOffset,
                "metadata count \(keyCount) cannot fit in the \(cursor.remaining) bytes left (truncated or corrupt file)"
            )
        }

        var entries: [GGUFMetadataEntry] = []
        entries.reserveCapacity(Int(min(keyCount, 4096)))
        var seenKeys: Set<String> = []
        for index in 0..<keyCount {
            let keyOffset = cursor.position
            let key = try readString(&cursor, "metadata key \(index)")
            guard seenKeys.insert(key).inserted else {
                throw GGUFError(.duplicate, at: keyOffset, "metadata key '\(key)' appears twice")
            }
            let typeOffset = cursor.position
            let rawType = try cursor.readInteger(UInt32.self, "the type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError(.badValueType, at: typeOffset, "metadata '\(key)' has unknown value type \(rawType)")
            }
            let value = try readValue(&cursor, type: type, key: key, depth: 0)
            entries.append(GGUFMetadataEntry(key: key, value: value, offset: keyOffset))
        }
        let metadata = GGUFMetadata(entries: entries)

        var alignment = GGUFFile.defaultAlignment
        if let entry = metadata.entry("general.alignment") {
            guard case .uint32(let value) = entry.value else {
                throw GGUFError(
                    .badMetadata, at: entry.offset, "general.alignment must be a uint32, found \(entry.value.type)")
            }
            guard value > 0, value & (value - 1) == 0 else {
                throw GGUFError(
                    .badMetadata, at: entry.offset, "general.alignment \(value) is not a power of two")
            }
            alignment = UInt64(value)
        }

        var tensors: [GGUFTensorInfo] = []
        // Capped: a record in memory is larger than its smallest encoding, so an untrusted count never
        // reserves more than a few hundred KB up front; real entries grow the arrays as they are read.
        tensors.reserveCapacity(Int(min(tensorCount, 4096)))
        var tensorOffsets: [UInt64] = []
        tensorOffsets.reserveCapacity(Int(min(tensorCount, 4096)))
        var seenNames: Set<String> = []
        for index in 0..<tensorCount {
            let infoOffset = cursor.position
            tensorOffsets.append(infoOffset)
            let name = try readString(&cursor, "tensor name \(index)")
            guard seenNames.insert(name).inserted else {
                throw GGUFError(.duplicate, at: infoOffset, "tensor '\(name)' appears twice")
            }
            let dimsOffset = cursor.position
            let dimensionCount = try cursor.readInteger(UInt32.self, "the dimensions of '\(name)'")
            guard dimensionCount <= GGUFFile.maximumDimensions else {
                throw GGUFError(
                    .badShape, at: dimsOffset,
                    "tensor '\(name)' has \(dimensionCount) dimensions, at most \(GGUFFile.maximumDimensions) allowed")
            }
            var dimensions: [UInt64] = []
            var elements: UInt64 = 1
            for axis in 0..<dimensionCount {
                let axisOffset = cursor.position
                let extent = try cursor.readInteger(UInt64.self, "dimension \(axis) of '\(name)'")
                guard extent <= UInt64(Int64.max) else {
                    throw GGUFError(.badShape, at: axisOffset, "tensor '\(name)' dimension \(axis) is negative")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
                guard !overflow, product <= UInt64(Int64.max) else {
                    throw GGUFError(
                        .badShape, at: axisOffset,
                        "tensor '\(name)' has \(dimensions + [extent]) elements: the product overflows")
                }
                elements = product
                dimensions.append(extent)
            }
            let typeOffset = cursor.position
            let rawType = try cursor.readInteger(UInt32.self, "the type of '\(name)'")
            let type: GGMLType
            switch GGMLType.lookup(id: rawType) {
            case .success(let found): type = found
            case .failure(let failure):
                throw GGUFError(.badTensorType, at: typeOffset, "tensor '\(name)': \(failure)")
            }
            let rowLength = dimensions.first ?? 1
            guard rowLength % type.blockElements == 0 else {
                throw GGUFError(
                    .badShape, at: dimsOffset,
                    "tensor '\(name)' rows of \(rowLength) elements are not whole \(type.name) blocks of "
                        + "\(type.blockElements)")
            }
            let (byteCount, overflow) = (elements / type.blockElements).multipliedReportingOverflow(
                by: type.blockBytes)
            guard !overflow else {
                throw GGUFError(.badShape, at: dimsOffset, "tensor '\(name)' byte size overflows")
            }
            let dataOffsetField = cursor.position
            let offset = try cursor.readInteger(UInt64.self, "the offset of '\(name)'")
            guard offset % alignment == 0 else {
                throw GGUFError(
                    .badTensorOffset, at: dataOffsetField,
                    "tensor '\(name)' offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            tensors.append(
                GGUFTensorInfo(
                    name: name, dimensions: dimensions, type: type, offset: offset, byteCount: byteCount,
                    elementCount: elements, shard: 0))
        }

        let headerEnd = cursor.position
        let padding = (alignment - headerEnd % alignment) % alignment
        let dataOffset = headerEnd + padding
        let dataBytes = cursor.size > dataOffset ? cursor.size - dataOffset : 0
        // Each tensor within the file, and no two overlapping (checked in offset order).
        var order = Array(tensors.indices)
        order.sort { (tensors[$0].offset, $0) < (tensors[$1].offset, $1) }
        var previousEnd: UInt64 = 0
        var previousName = ""
        for position in order {
            let tensor = tensors[position]
            let (end, overflow) = tensor.offset.addingReportingOverflow(tensor.byteCount)
            guard !overflow, end <= dataBytes else {
                throw GGUFError(
                    .badTensorOffset, at: tensorOffsets[position],
                    "tensor '\(tensor.name)' data (\(tensor.byteCount) bytes at data offset \(tensor.offset)) lies past "
                        + "the end of the file (data section holds \(dataBytes) bytes from byte \(dataOffset))")
            }
            guard tensor.byteCount == 0 || tensor.offset >= previousEnd else {
                throw GGUFError(
                    .badTensorOffset, at: tensorOffsets[position],
                    "tensor '\(tensor.name)' data at \(tensor.offset) overlaps tensor '\(previousName)' ending at "
                        + "\(previousEnd)")
            }
            if tensor.byteCount > 0 {
                previousEnd = end
                previousName = tensor.name
            }
        }
        return GGUFFile(
            version: version, metadata: metadata, tensors: tensors, alignment: alignment, dataOffset: dataOffset,
            fileSize: cursor.size)
    }

    static func readString<S>(
        _ cursor: inout ByteCursor<S>, _ what: @autoclosure () -> String
    ) throws(GGUFError)
        -> String
    {
        let lengthOffset = cursor.position
        let length = try cursor.readInteger(UInt64.self, "the length of \(what())")
        guard length <= cursor.remaining else {
            throw GGUFError(
                .implausibleCount, at: lengthOffset,
                "\(what()) has length \(length), past the end of the file (\(cursor.remaining) bytes left)")
        }
        return try cursor.readText(Int(length), what())
    }

    static func readValue<S>(
        _ cursor: inout ByteCursor<S>, type: GGUFValueType, key: String, depth: Int
    )
        throws(GGUFError) -> GGUFValue
    {
        switch type {
        case .uint8: return .uint8(try cursor.readInteger(UInt8.self, "'\(key)'"))
        case .int8: return .int8(try cursor.readInteger(Int8.self, "'\(key)'"))
        case .uint16: return .uint16(try cursor.readInteger(UInt16.self, "'\(key)'"))
        case .int16: return .int16(try cursor.readInteger(Int16.self, "'\(key)'"))
        case .uint32: return .uint32(try cursor.readInteger(UInt32.self, "'\(key)'"))
        case .int32: return .int32(try cursor.readInteger(Int32.self, "'\(key)'"))
        case .float32: return .float32(Float(bitPattern: try cursor.readInteger(UInt32.self, "'\(key)'")))
        case .bool: return .bool(try cursor.readInteger(UInt8.self, "'\(key)'") != 0)
        case .string: return .string(try readString(&cursor, "the value of '\(key)'"))
        case .uint64: return .uint64(try cursor.readInteger(UInt64.self, "'\(key)'"))
        case .int64: return .int64(try cursor.readInteger(Int64.self, "'\(key)'"))
        case .float64: return .float64(Double(bitPattern: try cursor.readInteger(UInt64.self, "'\(key)'")))
        case .array:
            let arrayOffset = cursor.position
            guard depth < GGUFFile.maximumNesting else {
                throw GGUFError(
                    .nestingTooDeep, at: arrayOffset,
                    "metadata '\(key)' nests arrays deeper than \(GGUFFile.maximumNesting) levels")
            }
            let rawType = try cursor.readInteger(UInt32.self, "the element type of '\(key)'")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw GGUFError(
                    .badValueType, at: arrayOffset, "metadata '\(key)' is an array of unknown value type \(rawType)")
            }
            let countOffset = cursor.position
            let count = try cursor.readInteger(UInt64.self, "the length of '\(key)'")
            guard count <= cursor.remaining / elementType.minimumBytes else {
                throw GGUFError(
                    .implausibleCount, at: countOffset,
                    "array '\(key)' has \(count) elements of \(elementType), past the end of the file "
                        + "(\(cursor.remaining) bytes left)")
            }
            return .array(try readArray(&cursor, elementType: elementType, count: Int(count), key: key, depth: depth))
        }
    }

    static func readArray<S>(
        _ cursor: inout ByteCursor<S>, elementType: GGUFValueType, count: Int, key: String, depth: Int
    ) throws(GGUFError) -> GGUFArray {
        let what = "an element of '\(key)'"
        switch elementType {
        case .uint8: return .uint8(try readIntegers(&cursor, UInt8.self, count, what))
        case .int8: return .int8(try readIntegers(&cursor, Int8.self, count, what))
        case .uint16: return .uint16(try readIntegers(&cursor, UInt16.self, count, what))
        case .int16: return .int16(try readIntegers(&cursor, Int16.self, count, what))
        case .uint32: return .uint32(try readIntegers(&cursor, UInt32.self, count, what))
        case .int32: return .int32(try readIntegers(&cursor, Int32.self, count, what))
        case .float32: return .float32(try readIntegers(&cursor, UInt32.self, count, what).map(Float.init(bitPattern:)))
        case .bool: return .bool(try readIntegers(&cursor, UInt8.self, count, what).map { $0 != 0 })
        case .uint64: return .uint64(try readIntegers(&cursor, UInt64.self, count, what))
        case .int64: return .int64(try readIntegers(&cursor, Int64.self, count, what))
        case .float64:
            return .float64(try readIntegers(&cursor, UInt64.self, count, what).map(Double.init(bitPattern:)))
        case .string:
            var strings: [String] = []
            strings.reserveCapacity(count)
            for _ in 0..<count { strings.append(try readString(&cursor, what)) }
            return .string(strings)
        case .array:
            var arrays: [GGUFArray] = []
            arrays.reserveCapacity(count)
            for _ in 0..<count {
                guard case .array(let inner) = try readValue(&cursor, type: .array, key: key, depth: depth + 1) else {
                    continue
                }
                arrays.append(inner)
            }
            return .array(arrays)
        }
    }

    static func readIntegers<S, T: FixedWidthInteger>(
        _ cursor: inout ByteCursor<S>, _ type: T.Type, _ count: Int, _ what: @autoclosure () -> String
    ) throws(GGUFError) -> [T] {
        var values: [T] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try cursor.readInteger(T.self, what())) }
        return values
    }
}
