import Foundation

/// The one JSON style of every `--json` output and every control API answer: keys in snake_case, objects nested
/// as objects (never a string that holds JSON). Checks a document and describes its shape, so a test can pin it.
public enum JSONStyle {
    /// Where `document` breaks the style, one line per finding (`$.profile.blockCount: key is not snake_case`);
    /// empty when it keeps it, or the parse error when it is not JSON.
    ///
    /// - Parameter dataKeys: keys whose value is a map keyed by data (instance names, GGUF or ggml type names), whose
    ///   own keys are not field names and are not checked.
    public static func violations(in document: String, dataKeys: Set<String> = []) -> [String] {
        do {
            let value = try JSONDecoder().decode(Value.self, from: Data(document.utf8))
            var found: [String] = []
            walk(value, path: "$", dataKeys: dataKeys) { path, value, isDataMap in
                if case .object(let object) = value, !isDataMap {
                    for key in object.keys.sorted() where !isSnakeCase(key) {
                        found.append("\(path).\(key): key is not snake_case")
                    }
                }
                if case .string(let string) = value, holdsJSON(string) {
                    found.append("\(path): a string that holds JSON (\(string.prefix(40)))")
                }
            }
            return found
        } catch {
            return ["not JSON: \(error)"]
        }
    }

    /// The shape of `document`: one sorted line per path and JSON type (`$.profile.block_count: number`), array
    /// elements under `[]`, the entries of a data map under `*`. Two documents of the same shape give the same lines
    /// whatever their values.
    public static func shape(of document: String, dataKeys: Set<String> = []) throws -> [String] {
        let value = try JSONDecoder().decode(Value.self, from: Data(document.utf8))
        var lines = Set<String>()
        walk(value, path: "$", dataKeys: dataKeys) { path, value, _ in
            lines.insert("\(path): \(value.typeName)")
        }
        return lines.sorted()
    }

    /// `key` is lowercase words of letters and digits joined by single underscores.
    public static func isSnakeCase(_ key: String) -> Bool {
        key.range(of: "^[a-z][a-z0-9]*(_[a-z0-9]+)*$", options: .regularExpression) != nil
    }

    /// Whether `string` is a JSON object or array written as text.
    static func holdsJSON(_ string: String) -> Bool {
        let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("{") || trimmed.hasPrefix("[") else { return false }
        return (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) != nil
    }

    /// Calls `visit` on every value with its path; a data map's entries share the path `map.*`.
    private static func walk(
        _ value: Value, path: String, dataKeys: Set<String>, isDataMap: Bool = false,
        _ visit: (String, Value, Bool) -> Void
    ) {
        visit(path, value, isDataMap)
        switch value {
        case .object(let object):
            for (key, child) in object {
                let childPath = isDataMap ? "\(path).*" : "\(path).\(key)"
                walk(child, path: childPath, dataKeys: dataKeys, isDataMap: !isDataMap && dataKeys.contains(key), visit)
            }
        case .array(let array):
            for element in array { walk(element, path: "\(path)[]", dataKeys: dataKeys, visit) }
        default: break
        }
    }

    /// A JSON value as decoded, booleans told from numbers (which `JSONSerialization` does not do on Linux).
    indirect enum Value: Decodable {
        case object([String: Value])
        case array([Value])
        case string(String)
        case number(Double)
        case boolean(Bool)
        case null

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let flag = try? container.decode(Bool.self) {
                self = .boolean(flag)
            } else if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let string = try? container.decode(String.self) {
                self = .string(string)
            } else if let array = try? container.decode([Value].self) {
                self = .array(array)
            } else {
                self = .object(try container.decode([String: Value].self))
            }
        }

        var typeName: String {
            switch self {
            case .object: "object"
            case .array: "array"
            case .string: "string"
            case .number: "number"
            case .boolean: "boolean"
            case .null: "null"
            }
        }
    }
}

extension JSONDecoder {
    /// Reads a `--json` output back into the Swift types it was printed from: the snake_case keys turned back into
    /// property names, with the acronyms this code spells in capitals (`device_id` → `deviceID`, `unified_kv` →
    /// `unifiedKV`), which `convertFromSnakeCase` would miss. For the types without snake_case coding keys of their
    /// own (plans, profiles, snapshots).
    public static var cliOutput: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in
            let key = path.last!.stringValue
            let words = key.split(separator: "_").map(String.init)
            guard words.count > 1 else { return AnyKey(key) }
            let rest = words.dropFirst().map { acronyms.contains($0) ? $0.uppercased() : $0.capitalized }
            return AnyKey(words[0] + rest.joined())
        }
        return decoder
    }

    private static let acronyms: Set<String> = ["id", "kv", "api", "pid", "gpu", "cpu", "uuid", "luid", "ffn", "mb"]

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
