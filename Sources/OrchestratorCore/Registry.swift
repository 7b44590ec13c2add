/// A set of named entries (drivers, health checkers, restart policies) built once at the entry point and
/// passed down; configs refer to entries by name.
///
/// A registry is a value: there is no global one. Names are case-sensitive and unique; registering a
/// name twice is a programming error caught at construction.
public struct Registry<Entry: Sendable>: Sendable {
    /// What the registry holds, in words ("driver", "health checker"): used in error messages.
    public let kind: String
    private let entries: [String: Entry]
    /// The names in registration order.
    public let names: [String]

    /// Builds a registry from (name, entry) pairs in the order they should be listed.
    public init(kind: String, _ pairs: [(String, Entry)]) {
        var entries: [String: Entry] = [:]
        var names: [String] = []
        for (name, entry) in pairs {
            precondition(entries[name] == nil, "\(kind) '\(name)' registered twice")
            entries[name] = entry
            names.append(name)
        }
        self.kind = kind
        self.entries = entries
        self.names = names
    }

    /// The entry with this name, or `nil`.
    public subscript(name: String) -> Entry? { entries[name] }

    /// The entry with this name, or an error listing the known names.
    public func lookup(_ name: String) throws(RegistryError) -> Entry {
        guard let entry = entries[name] else {
            throw RegistryError(kind: kind, name: name, known: names)
        }
        return entry
    }

    /// Whether an entry with this name exists.
    public func contains(_ name: String) -> Bool { entries[name] != nil }

    /// All entries in registration order.
    public var all: [(name: String, entry: Entry)] { names.map { ($0, entries[$0]!) } }
}

/// A name that no entry of a registry has.
public struct RegistryError: OrchestratorError, Equatable {
    public let kind: String
    public let name: String
    public let known: [String]

    public init(kind: String, name: String, known: [String]) {
        self.kind = kind
        self.name = name
        self.known = known
    }

    public var exitCode: OrchestratorExitCode { kind == "driver" ? .driverUnavailable : .configInvalid }

    public var description: String {
        var text = "unknown \(kind) '\(name)'; known: \(known.joined(separator: ", "))"
        if let close = closestMatch(to: name, among: known) { text += " (did you mean '\(close)'?)" }
        return text
    }
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a plausible typo.
public func closestMatch(to word: String, among candidates: [String]) -> String? {
    let limit = max(1, word.count / 3)
    var best: (String, Int)?
    for candidate in candidates {
        let distance = editDistance(word.lowercased(), candidate.lowercased())
        if distance <= limit, best == nil || distance < best!.1 { best = (candidate, distance) }
    }
    return best?.0
}

/// Edit distance between two strings by characters, counting a swap of two neighbours as one edit
/// (optimal string alignment), so `modle` is one edit from `model`.
public func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { table[i][0] = i }
    for j in 0...b.count { table[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
            }
        }
    }
    return table[a.count][b.count]
}
