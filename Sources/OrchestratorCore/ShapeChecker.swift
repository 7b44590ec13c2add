import Foundation

/// Walks a parsed config against `ConfigSpec`, collecting an issue for every value of the wrong type,
/// out of range, unknown or missing.
struct ShapeChecker {
    let knownNames: KnownNames
    var issues: [ConfigIssue] = []

    init(knownNames: KnownNames) {
        self.knownNames = knownNames
    }

    mutating func checkObject(_ members: [JSONMember], fields: [ConfigField], path: String, position: JSONPosition) {
        let keys = fields.map(\.key)
        for member in members {
            let memberPath = join(path, member.key)
            guard let field = fields.first(where: { $0.key == member.key }) else {
                var message = "unknown key \"\(member.key)\""
                if let suggestion = closestMatch(to: member.key, among: keys) {
                    message += "; did you mean \"\(suggestion)\"?"
                } else {
                    message += "; known keys here: \(keys.joined(separator: ", "))"
                }
                issues.append(ConfigIssue(.error, path: memberPath, message: message, at: member.keyPosition))
                continue
            }
            check(member.node, field.type, path: memberPath)
        }
        for field in fields where field.required && !members.contains(where: { $0.key == field.key }) {
            issues.append(
                ConfigIssue(
                    .error, path: join(path, field.key),
                    message: "missing required key \"\(field.key)\" (\(field.summary))", at: position))
        }
    }

    mutating func check(_ node: JSONNode, _ type: ConfigFieldType, path: String) {
        if let problem = problem(node, type, path: path) {
            issues.append(ConfigIssue(.error, path: path, message: problem, at: node.position))
        }
    }

    /// Checks one value; nested problems are appended directly, a problem with this value is returned.
    private mutating func problem(_ node: JSONNode, _ type: ConfigFieldType, path: String) -> String? {
        switch type {
        case .object(let fields):
            guard case .object(let members) = node.value else { return mismatch(type, node) }
            checkObject(members, fields: fields, path: path, position: node.position)
            return nil
        case .map(let valueType):
            guard case .object(let members) = node.value else { return mismatch(type, node) }
            for member in members {
                if member.key.isEmpty {
                    issues.append(ConfigIssue(.error, path: path, message: "empty key", at: member.keyPosition))
                } else if member.key.contains("=") || member.key.contains("\0") {
                    // execve would read `A=B` as the variable `A`, with `B=` before the value.
                    issues.append(
                        ConfigIssue(
                            .error, path: join(path, member.key),
                            message: "a variable's name can't contain '=' or a NUL character", at: member.keyPosition))
                }
                check(member.node, valueType, path: join(path, member.key))
            }
            return nil
        case .array(let elementType):
            guard case .array(let elements) = node.value else { return mismatch(type, node) }
            for (index, element) in elements.enumerated() { check(element, elementType, path: "\(path)[\(index)]") }
            return nil
        case .anyOf(let alternatives):
            var firstOfSameKind: String?
            for alternative in alternatives {
                var probe = ShapeChecker(knownNames: knownNames)
                let result = probe.problem(node, alternative, path: path)
                if result == nil && probe.issues.isEmpty { return nil }
                if firstOfSameKind == nil, Self.sameKind(node.value, alternative) { firstOfSameKind = result }
            }
            if let firstOfSameKind, alternatives.filter({ Self.sameKind(node.value, $0) }).count == 1 {
                return firstOfSameKind
            }
            return mismatch(type, node)
        default:
            return scalarProblem(node, type)
        }
    }

    private func scalarProblem(_ node: JSONNode, _ type: ConfigFieldType) -> String? {
        switch (type, node.value) {
        case (.string(let pattern, let allowed), .string(let text)):
            if let allowed {
                let names = knownNames.names(allowed)
                if !names.contains(text) {
                    var message = "expected one of \(names.joined(separator: ", ")), found \"\(text)\""
                    if let close = closestMatch(to: text, among: names) { message += "; did you mean \"\(close)\"?" }
                    return message
                }
            }
            if let pattern, !matches(text, pattern) {
                return "expected \(Self.describe(type, knownNames)), found \(node.shortDescription)"
            }
            return nil
        case (.constant(let expected), .string(let text)):
            return text == expected ? nil : "expected \"\(expected)\", found \(node.shortDescription)"
        case (.boolean, .bool):
            return nil
        case (.integer(let low, let high), .number(let literal)):
            guard let value = Self.integerValue(literal) else {
                if let double = Double(literal), double.isFinite, double == double.rounded() {
                    return "expected \(Self.describe(type, knownNames)), found \(literal) (too large)"
                }
                if Double(literal)?.isFinite == false {
                    return
                        "expected \(Self.describe(type, knownNames)), found \(literal) (too large for any number type)"
                }
                return "expected \(Self.describe(type, knownNames)), found \(literal) (not a whole number)"
            }
            return (low...high).contains(value) ? nil : "expected \(Self.describe(type, knownNames)), found \(literal)"
        case (.number(let low, let exclusive, let high), .number(let literal)):
            guard let value = Double(literal), value.isFinite else {
                return "expected \(Self.describe(type, knownNames)), found \(literal) (too large for any number type)"
            }
            // JSONDecoder refuses a literal that rounds to 0 without being 0 (`1e-400`).
            let mantissa = literal.prefix { $0 != "e" && $0 != "E" }
            if value == 0, mantissa.contains(where: { $0 >= "1" && $0 <= "9" }) {
                return "expected \(Self.describe(type, knownNames)), found \(literal) (too small for any number type)"
            }
            let aboveLow = exclusive ? value > low : value >= low
            let belowHigh = high.map { value <= $0 } ?? true
            return aboveLow && belowHigh ? nil : "expected \(Self.describe(type, knownNames)), found \(literal)"
        default:
            return mismatch(type, node)
        }
    }

    private func mismatch(_ type: ConfigFieldType, _ node: JSONNode) -> String {
        "expected \(Self.describe(type, knownNames)), found \(node.value.kindName) \(node.shortDescription)"
            .replacingOccurrences(of: "found an object an object", with: "found an object")
            .replacingOccurrences(of: "found an array an array", with: "found an array")
    }

    /// An integer literal (`12`, `12.0`, `1.2e1`) as `Int64`, or `nil` when it is not whole or too big.
    static func integerValue(_ literal: String) -> Int64? {
        if let exact = Int64(literal) { return exact }
        guard let double = Double(literal), double.isFinite, double == double.rounded(),
            abs(double) < 9.007_199_254_740_992e15
        else { return nil }
        return Int64(double)
    }

    static func sameKind(_ value: JSONValue, _ type: ConfigFieldType) -> Bool {
        switch (value, type) {
        case (.string, .string), (.string, .constant), (.number, .integer), (.number, .number), (.bool, .boolean),
            (.array, .array), (.object, .object), (.object, .map):
            true
        default: false
        }
    }

    static func describe(_ type: ConfigFieldType, _ knownNames: KnownNames) -> String {
        switch type {
        case .string(let pattern, let allowed):
            if let allowed { return "one of \(knownNames.names(allowed).joined(separator: ", "))" }
            if let pattern { return pattern == "^.+$" ? "a non-empty string" : "a string matching \(pattern)" }
            return "a string"
        case .integer(let low, let high): return "an integer from \(low) to \(high)"
        case .number(let low, let exclusive, let high):
            let lower = exclusive ? "greater than \(format(low))" : "from \(format(low))"
            if let high {
                return exclusive
                    ? "a number \(lower) and at most \(format(high))" : "a number \(lower) to \(format(high))"
            }
            return "a number \(lower)"
        case .boolean: return "true or false"
        case .array(let element): return "an array of \(plural(describe(element, knownNames)))"
        case .map(let value): return "an object whose values are \(plural(describe(value, knownNames)))"
        case .object: return "an object"
        case .anyOf(let alternatives): return alternatives.map { describe($0, knownNames) }.joined(separator: " or ")
        case .constant(let text): return "\"\(text)\""
        }
    }

    private static func plural(_ text: String) -> String {
        text.hasPrefix("a string") ? "strings" + text.dropFirst("a string".count) : text
    }
}

func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

/// Typed reads for the rules across fields, which run even when the shape check failed: a wrong shape
/// reads as absent.
struct ObjectReader {
    let members: [JSONMember]

    private func node(_ key: String) -> JSONNode? { members.first { $0.key == key }?.node }

    func has(_ key: String) -> Bool { node(key) != nil }
    func position(_ key: String) -> JSONPosition? { node(key)?.position }

    func string(_ key: String) -> String? {
        if case .string(let text)? = node(key)?.value { return text }
        return nil
    }

    func bool(_ key: String) -> Bool? {
        if case .bool(let flag)? = node(key)?.value { return flag }
        return nil
    }

    func integer(_ key: String) -> Int? {
        if case .number(let literal)? = node(key)?.value, let value = ShapeChecker.integerValue(literal) {
            return Int(exactly: value)
        }
        return nil
    }

    func double(_ key: String) -> Double? {
        if case .number(let literal)? = node(key)?.value { return Double(literal) }
        return nil
    }

    func object(_ key: String) -> ObjectReader? {
        if case .object(let members)? = node(key)?.value { return ObjectReader(members: members) }
        return nil
    }

    func strings(_ key: String) -> [String] {
        guard case .array(let elements)? = node(key)?.value else { return [] }
        return elements.compactMap {
            if case .string(let text) = $0.value { return text }
            return nil
        }
    }
}
