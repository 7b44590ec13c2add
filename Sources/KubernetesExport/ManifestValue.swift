import Yams

/// A Kubernetes object as a tree of maps, lists and scalars, written as YAML by Yams.
///
/// Manifests are built as literals (`["kind": "Service", "spec": [...]]`) so that the code reads like the YAML it
/// writes; `yaml()` turns the tree into Yams nodes with sorted keys, so the same tree always gives the same bytes.
public indirect enum ManifestValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case list([ManifestValue])
    case map([String: ManifestValue])
    /// A string written as a literal block (`|`), for scripts a person reads.
    case block(String)

    /// The value at `key` of a map, or `nil`.
    public subscript(key: String) -> ManifestValue? {
        guard case .map(let entries) = self else { return nil }
        return entries[key]
    }

    /// The string of a `.string` or `.block`, or `nil`.
    public var stringValue: String? {
        switch self {
        case .string(let text), .block(let text): text
        default: nil
        }
    }

    /// The YAML document of this value: keys sorted, block style, two-space indentation.
    public func yaml() throws -> String {
        try Yams.serialize(node: node(), indent: 2, width: -1, sortKeys: true)
    }

    /// The Yams node of this value.
    ///
    /// A string that a YAML 1.1 reader would take for something else (`on`, `8080`, `1e3`, `null`) is quoted, and so
    /// are `y` and `n`, which Kubernetes' own YAML reader (go-yaml v2) reads as booleans although Yams doesn't.
    func node() throws -> Node {
        switch self {
        case .string(let text):
            let scalar = text.represented()
            if scalar.style == .plain || scalar.style == .any, ["y", "Y", "n", "N"].contains(text) {
                return .scalar(.init(text, Tag(.str), .singleQuoted))
            }
            return .scalar(scalar)
        case .block(let text):
            return .scalar(.init(text, Tag(.str), .literal))
        case .integer(let number):
            return .scalar(number.represented())
        case .boolean(let flag):
            return .scalar(flag.represented())
        case .list(let items):
            return .sequence(.init(try items.map { try $0.node() }))
        case .map(let entries):
            let pairs = try entries.sorted { $0.key < $1.key }.map { (Node($0.key), try $0.value.node()) }
            return .mapping(.init(pairs))
        }
    }
}

extension ManifestValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    public init(arrayLiteral elements: ManifestValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, ManifestValue)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension ManifestValue {
    /// A list of strings.
    static func strings(_ values: [String]) -> ManifestValue { .list(values.map(ManifestValue.string)) }

    /// A map of strings.
    static func strings(_ values: [String: String]) -> ManifestValue { .map(values.mapValues(ManifestValue.string)) }

    /// `self` with `entries` added to a map (entries win); other values are returned as they are.
    func adding(_ entries: [String: ManifestValue?]) -> ManifestValue {
        guard case .map(var map) = self else { return self }
        for (key, value) in entries {
            if let value { map[key] = value }
        }
        return .map(map)
    }
}
