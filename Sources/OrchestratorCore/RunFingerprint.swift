import Foundation

/// A file as a run saw it: which file (device and inode, so a file replaced under the same name is another file),
/// its size and modification time.
public struct FileStamp: Sendable, Equatable, Codable {
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    public var size: Int
    /// Seconds since 1970.
    public var modified: Double

    public init(path: String, device: UInt64, inode: UInt64, size: Int, modified: Double) {
        self.path = path
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
    }

    /// Whether both stamps name the same file with the same contents as far as `stat` tells. Times within a
    /// microsecond are the same: stamps recorded by earlier versions went through Foundation's `Date`, whose
    /// arithmetic may differ from `stat`'s nanoseconds in the last bits.
    public func isUnchanged(from other: FileStamp) -> Bool {
        device == other.device && inode == other.inode && size == other.size
            && abs(modified - other.modified) < 1e-6
    }
}

/// What determined one run of an instance: the validated config, the model file and llama-server binary it
/// loaded, and the command line. `up` compares the running server's fingerprint with what the files say now and
/// recreates the instance when they differ.
public struct RunFingerprint: Sendable, Equatable, Codable {
    /// The validated config (defaults filled in) as JSON with sorted keys.
    public var config: String
    /// The model file (`nil`: it could not be looked at).
    public var model: FileStamp?
    /// The llama-server binary (`argv[0]`).
    public var binary: FileStamp?
    public var argv: [String]

    public init(config: String, model: FileStamp?, binary: FileStamp?, argv: [String]) {
        self.config = config
        self.model = model
        self.binary = binary
        self.argv = argv
    }

    /// The canonical JSON of a config: what `config` holds.
    public static func canonicalJSON(_ config: InstanceConfig) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// What differs from this (running) fingerprint to `now`, one phrase each (`model.context_size 4096 → 8192`,
    /// `model file replaced`); empty when nothing does.
    ///
    /// The command line is not compared: it follows from the config, the binary and the placement, and the
    /// placement changes whenever other instances come and go, which is no reason to restart a server.
    public func changes(to now: RunFingerprint) -> [String] {
        var changes = Self.configChanges(from: config, to: now.config)
        // The model's path is in the config (its change shows above); the binary's may come from the search.
        changes += Self.fileChanges("model file", from: model, to: now.model, sayPath: false)
        changes += Self.fileChanges("llama-server binary", from: binary, to: now.binary, sayPath: true)
        return changes
    }

    private static func fileChanges(
        _ what: String, from old: FileStamp?, to new: FileStamp?, sayPath: Bool
    )
        -> [String]
    {
        switch (old, new) {
        case (nil, nil): return []
        case (nil, _?): return ["\(what) appeared"]
        case (_?, nil): return ["\(what) is gone"]
        case (let old?, let new?):
            if old.path != new.path { return sayPath ? ["\(what) \(old.path) → \(new.path)"] : [] }
            if old.isUnchanged(from: new) { return [] }
            // A file replaced under the same name (a download, a copy) is another inode.
            return old.device == new.device && old.inode == new.inode ? ["\(what) modified"] : ["\(what) replaced"]
        }
    }

    /// Key paths whose values differ between two config JSON texts, as `path old → new`.
    static func configChanges(from old: String, to new: String) -> [String] {
        guard old != new else { return [] }
        let before = flatten(parse(old))
        let after = flatten(parse(new))
        guard !before.isEmpty, !after.isEmpty else { return ["config"] }
        var changes: [String] = []
        for key in Set(before.keys).union(after.keys).sorted() where before[key] != after[key] {
            // The resolved path follows the written one: say it once.
            if key == "model.resolved_path" && before["model.path"] != after["model.path"] { continue }
            changes.append("\(key) \(before[key] ?? "unset") → \(after[key] ?? "unset")")
        }
        return changes.isEmpty ? ["config"] : changes
    }

    private static func parse(_ text: String) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }

    /// `a.b.c` → the value as compact JSON text (arrays as one value).
    private static func flatten(_ value: Any?, prefix: String = "") -> [String: String] {
        if let object = value as? [String: Any] {
            var result: [String: String] = [:]
            for (key, child) in object {
                result.merge(flatten(child, prefix: prefix.isEmpty ? key : "\(prefix).\(key)")) { $1 }
            }
            return result
        }
        guard let value, !prefix.isEmpty else { return [:] }
        if let string = value as? String { return [prefix: string] }
        let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        return [prefix: data.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"]
    }
}
