import Foundation

/// A JSON document parsed with the position of every value, so config errors can point at the line
/// and column a user has to fix.
///
/// Foundation's JSON parsers lose key order, duplicate keys and positions, and accept a byte-order
/// mark on some platforms; configs need all of that reported precisely.
public indirect enum JSONValue: Sendable, Equatable {
    case object([JSONMember])
    case array([JSONNode])
    case string(String)
    /// The number as written, so that a value too large for any type can be reported as written.
    case number(String)
    case bool(Bool)
    case null

    /// What a user would call this kind of value in an error message.
    public var kindName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// `text` as a JSON string literal, byte for byte as `JSONEncoder` writes it with `.withoutEscapingSlashes`:
/// `"` and `\` escaped, control characters as `\n`, `\t`... or `\u00XX`; everything else (slashes, DEL,
/// non-ASCII) as it is.
///
/// The one JSON string escaper: for text written around JSON values (new configs, in-place edits) and for
/// replies written without an encoder (`ps`, where the encoder was a third of the reply's time).
public func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar.value {
        case 0x22: out += "\\\""
        case 0x5C: out += "\\\\"
        case 0x08: out += "\\b"
        case 0x0C: out += "\\f"
        case 0x0A: out += "\\n"
        case 0x0D: out += "\\r"
        case 0x09: out += "\\t"
        case 0x00..<0x10: out += "\\u000" + String(scalar.value, radix: 16)
        case 0x10..<0x20: out += "\\u001" + String(scalar.value - 0x10, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// A value and where it starts in the file.
public struct JSONNode: Sendable, Equatable {
    public var value: JSONValue
    public var position: JSONPosition

    public init(_ value: JSONValue, at position: JSONPosition) {
        self.value = value
        self.position = position
    }

    /// The value as a short literal for error messages: `"abc"`, `42`, `an object`.
    public var shortDescription: String {
        switch value {
        case .string(let text):
            let clipped = text.count > 40 ? String(text.prefix(40)) + "…" : text
            return "\"\(clipped)\""
        case .number(let literal): return literal
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "null"
        case .object, .array: return value.kindName
        }
    }
}

/// One `"key": value` pair of an object, in file order.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var keyPosition: JSONPosition
    public var node: JSONNode
}

/// A 1-based line and column, and the 0-based byte offset.
public struct JSONPosition: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var offset: Int

    public var description: String { "line \(line), column \(column)" }
}

/// Why a JSON text could not be parsed, with where.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var position: JSONPosition

    public var description: String { "\(message) at \(position)" }
}

/// A strict RFC 8259 parser over bytes: UTF-8 only, no byte-order mark, no trailing commas or comments,
/// duplicate keys refused, nesting limited.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private let maximumDepth: Int

    /// Parses a whole document: exactly one value surrounded by optional whitespace.
    public static func parse(_ bytes: [UInt8], maximumDepth: Int = 64) throws(JSONSyntaxError) -> JSONNode {
        var parser = JSONParser(bytes: bytes, maximumDepth: maximumDepth)
        return try parser.parseDocument()
    }

    private init(bytes: [UInt8], maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    private var position: JSONPosition {
        // Columns count characters, not bytes: skip UTF-8 continuation bytes.
        var column = 1
        var cursor = lineStart
        while cursor < index && cursor < bytes.count {
            if bytes[cursor] & 0xC0 != 0x80 { column += 1 }
            cursor += 1
        }
        return JSONPosition(line: line, column: column, offset: index)
    }

    private func fail(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, position: position)
    }

    private mutating func parseDocument() throws(JSONSyntaxError) -> JSONNode {
        if bytes.isEmpty { throw fail("the file is empty; expected a JSON object") }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            throw fail("the file starts with a UTF-8 byte-order mark; save it as UTF-8 without a BOM")
        }
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw fail("the file is UTF-16; save it as UTF-8")
        }
        try validateUTF8()
        skipWhitespace()
        if index >= bytes.count { throw fail("the file holds only whitespace; expected a JSON object") }
        let node = try parseValue(depth: 0)
        skipWhitespace()
        if index < bytes.count {
            throw fail("unexpected \(describeByte(bytes[index])) after the end of the JSON value")
        }
        return node
    }

    /// Rejects invalid UTF-8 up front, naming the line and column of the first bad byte.
    private mutating func validateUTF8() throws(JSONSyntaxError) {
        var cursor = 0
        while cursor < bytes.count {
            let byte = bytes[cursor]
            let length: Int
            switch byte {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: length = 0
            }
            var valid = length > 0 && cursor + length <= bytes.count
            if valid && length > 1 {
                for offset in 1..<length where bytes[cursor + offset] & 0xC0 != 0x80 { valid = false }
                if valid && length == 3 {
                    let second = bytes[cursor + 1]
                    if byte == 0xE0 && second < 0xA0 { valid = false }
                    if byte == 0xED && second > 0x9F { valid = false }
                }
                if valid && length == 4 {
                    let second = bytes[cursor + 1]
                    if byte == 0xF0 && second < 0x90 { valid = false }
                    if byte == 0xF4 && second > 0x8F { valid = false }
                }
            }
            if !valid {
                index = cursor
                line = 1
                lineStart = 0
                for scan in 0..<cursor where bytes[scan] == 0x0A {
                    line += 1
                    lineStart = scan + 1
                }
                throw fail(
                    String(format: "invalid UTF-8 (byte 0x%02X at offset %d); save the file as UTF-8", byte, cursor))
            }
            cursor += length
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    private func describeByte(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return String(format: "byte 0x%02X", byte)
    }

    private mutating func parseValue(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        guard index < bytes.count else { throw fail("unexpected end of file; expected a value") }
        let start = position
        switch bytes[index] {
        case UInt8(ascii: "{"):
            guard depth < maximumDepth else { throw fail("nesting deeper than \(maximumDepth) levels") }
            return JSONNode(try parseObject(depth: depth + 1), at: start)
        case UInt8(ascii: "["):
            guard depth < maximumDepth else { throw fail("nesting deeper than \(maximumDepth) levels") }
            return JSONNode(try parseArray(depth: depth + 1), at: start)
        case UInt8(ascii: "\""):
            return JSONNode(.string(try parseString()), at: start)
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return JSONNode(.bool(true), at: start)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return JSONNode(.bool(false), at: start)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return JSONNode(.null, at: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return JSONNode(.number(try parseNumber()), at: start)
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            throw fail("unexpected \(describeByte(bytes[index])); expected a value (a trailing comma?)")
        case UInt8(ascii: "'"):
            throw fail("single quotes are not JSON; use double quotes")
        case UInt8(ascii: "T"), UInt8(ascii: "F"), UInt8(ascii: "N"):
            throw fail("unexpected \(describeByte(bytes[index])); JSON literals are lowercase (true, false, null)")
        case UInt8(ascii: "/"):
            throw fail("comments are not allowed in JSON")
        default:
            throw fail("unexpected \(describeByte(bytes[index])); expected a value")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONSyntaxError) {
        let expected = Array(literal.utf8)
        guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else {
            throw fail("invalid literal; expected '\(literal)' (JSON literals are lowercase)")
        }
        index += expected.count
    }

    private mutating func parseObject(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        index += 1
        var members: [JSONMember] = []
        var seen: Set<String> = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of file inside an object; missing '}'") }
            guard bytes[index] == UInt8(ascii: "\"") else {
                if bytes[index] == UInt8(ascii: "}") { throw fail("trailing comma before '}'") }
                throw fail("expected a key in double quotes, found \(describeByte(bytes[index]))")
            }
            let keyPosition = position
            let key = try parseString()
            if seen.contains(key) {
                index = keyPosition.offset
                throw JSONSyntaxError(message: "duplicate key \"\(key)\"", position: keyPosition)
            }
            seen.insert(key)
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                throw fail("expected ':' after the key \"\(key)\"")
            }
            index += 1
            skipWhitespace()
            let node = try parseValue(depth: depth)
            members.append(JSONMember(key: key, keyPosition: keyPosition, node: node))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of file inside an object; missing '}'") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            throw fail("expected ',' or '}' after a value, found \(describeByte(bytes[index]))")
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONSyntaxError) -> JSONValue {
        index += 1
        var elements: [JSONNode] = []
        skipWhitespace()
        if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of file inside an array; missing ']'") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            throw fail("expected ',' or ']' after an array element, found \(describeByte(bytes[index]))")
        }
    }

    private mutating func parseString() throws(JSONSyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var chunkStart = index
        func flush(_ end: Int) {
            if end > chunkStart {
                scalars.append(contentsOf: String(decoding: bytes[chunkStart..<end], as: UTF8.self).unicodeScalars)
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                flush(index)
                index += 1
                return String(scalars)
            }
            if byte < 0x20 {
                throw fail(
                    byte == 0x0A
                        ? "unterminated string (a newline inside quotes)" : "control character in a string; escape it")
            }
            if byte == UInt8(ascii: "\\") {
                flush(index)
                index += 1
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                            bytes[index + 1] == UInt8(ascii: "u")
                        else { throw fail("unpaired surrogate in \\u escape") }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw fail("invalid surrogate pair in \\u escape")
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                    scalars.append(scalar)
                default:
                    index -= 1
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(escape)))' in a string")
                }
                chunkStart = index
                continue
            }
            index += 1
        }
        throw fail("unterminated string; missing closing '\"'")
    }

    private mutating func parseHex4() throws(JSONSyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> String {
        let start = index
        func digits() -> Int {
            let from = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - from
        }
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { throw fail("a number ends after '-'") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                throw fail("numbers must not have leading zeros")
            }
        } else if digits() == 0 {
            throw fail("invalid number")
        }
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            if digits() == 0 { throw fail("a number needs digits after '.'") }
        }
        if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
                index += 1
            }
            if digits() == 0 { throw fail("a number needs digits in its exponent") }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }
}
