/// Edits a config file's text in place, keeping the user's formatting, key order and everything else
/// byte for byte: only the edited value changes.
///
/// Re-encoding the JSON would reorder keys and reflow the file; the parser's positions let an edit replace
/// exactly the bytes of one value instead.
public enum ConfigEditor {
    /// `text` with the top-level `"autostart"` set to `enabled`: its value replaced where it is, or, when
    /// absent, `"autostart": true` inserted as the first member, indented like the member after it.
    ///
    /// Turning autostart off where the key is absent changes nothing (false is the default).
    /// - Throws: `ConfigEditError` when the text is not JSON or not an object.
    public static func settingAutostart(_ enabled: Bool, in text: String) throws(ConfigEditError) -> String {
        if !enabled, try topLevelValue("autostart", in: text) == nil { return text }
        return try settingTopLevel("autostart", toLiteral: enabled ? "true" : "false", in: text)
    }

    /// The top-level value of `key`, or `nil` when the object has no such key.
    public static func topLevelValue(_ key: String, in text: String) throws(ConfigEditError) -> JSONNode? {
        try members(of: Array(text.utf8)).members.first { $0.key == key }?.node
    }

    /// `text` with the top-level `key` set to `literal` (JSON text, written as given).
    ///
    /// An existing value is replaced at its position, whatever its type; a missing key is inserted right
    /// after the opening `{`, with the whitespace that precedes the first member, so a pretty-printed file
    /// stays pretty and a one-line file stays on one line.
    public static func settingTopLevel(
        _ key: String, toLiteral literal: String, in text: String
    ) throws(ConfigEditError) -> String {
        let bytes = Array(text.utf8)
        let (open, members) = try members(of: bytes)
        var edited = bytes
        if let existing = members.first(where: { $0.key == key }) {
            let start = existing.node.position.offset
            edited.replaceSubrange(start..<valueEnd(bytes, from: start), with: Array(literal.utf8))
        } else {
            let member = Array(jsonQuoted(key).utf8) + Array(": ".utf8) + Array(literal.utf8)
            if let first = members.first {
                // `{<ws>"first"` becomes `{<ws>"key": literal,<ws>"first"`; with no whitespace, one space.
                let whitespace = Array(bytes[(open + 1)..<first.keyPosition.offset])
                let separator = whitespace.isEmpty ? Array(" ".utf8) : whitespace
                edited.replaceSubrange(
                    (open + 1)..<first.keyPosition.offset, with: whitespace + member + Array(",".utf8) + separator)
            } else {
                edited.insert(contentsOf: member, at: open + 1)
            }
        }
        return String(decoding: edited, as: UTF8.self)
    }

    /// The offset of the root object's `{` and its members.
    private static func members(of bytes: [UInt8]) throws(ConfigEditError) -> (open: Int, members: [JSONMember]) {
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw .invalidJSON(error)
        }
        guard case .object(let members) = root.value else { throw .notAnObject(found: root.value.kindName) }
        return (root.position.offset, members)
    }

    /// The offset just past the JSON value starting at `start`, in text the parser has accepted.
    static func valueEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start
        var depth = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                if byte == UInt8(ascii: "\\") {
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 { return index + 1 }
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return index + 1 }
                if depth < 0 { return index }
            case UInt8(ascii: ","), 0x20, 0x09, 0x0A, 0x0D:
                if depth == 0 { return index }
            default:
                break
            }
            index += 1
        }
        return index
    }
}

/// Why a config's text could not be edited: it must parse as a JSON object first.
public enum ConfigEditError: OrchestratorError, Equatable {
    /// The text is not valid JSON; the syntax error says where.
    case invalidJSON(JSONSyntaxError)
    /// The text is JSON but not an object.
    case notAnObject(found: String)

    public var exitCode: OrchestratorExitCode { .configInvalid }

    public var description: String {
        switch self {
        case .invalidJSON(let error): "invalid JSON: \(error.message) at \(error.position); fix the file first"
        case .notAnObject(let found): "expected a JSON object, found \(found)"
        }
    }

    /// The problem as a config issue, for `ConfigError` and `config validate`'s format.
    public var issue: ConfigIssue {
        switch self {
        case .invalidJSON(let error):
            ConfigIssue(.error, path: "", message: "invalid JSON: \(error.message)", at: error.position)
        case .notAnObject(let found):
            ConfigIssue(.error, path: "", message: "expected a JSON object, found \(found)")
        }
    }
}
