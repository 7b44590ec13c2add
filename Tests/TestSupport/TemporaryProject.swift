import Foundation

/// A project root in a fresh temporary folder, with `instances/` and `models/`, removed by `remove()`.
public struct TemporaryProject: Sendable {
    public let root: String

    /// The router's port in `llama-orch.json`.
    public let routerPort: Int

    /// Creates the folder; `name` shows in the path to help find leftovers. A daemon started on the project serves
    /// its router on a free port of its own (`routerPort`), not on the default 8080 that every test would share.
    public init(_ name: String = "project") throws {
        let base = FileManager.default.temporaryDirectory.path
        root = "\(base)/llama-orch-test-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/instances", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/models", withIntermediateDirectories: true)
        routerPort = try LlamaServerProbe.freePort()
        try write("llama-orch.json", #"{"router": {"listen": "127.0.0.1:\#(routerPort)"}}"#)
    }

    /// The router's base URL.
    public var routerURL: String { "http://127.0.0.1:\(routerPort)" }

    /// Writes `text` to a path relative to the root, creating folders.
    @discardableResult
    public func write(_ relativePath: String, _ text: String) throws -> String {
        try write(relativePath, bytes: Array(text.utf8))
    }

    /// Writes raw bytes to a path relative to the root, creating folders.
    @discardableResult
    public func write(_ relativePath: String, bytes: [UInt8]) throws -> String {
        let path = root + "/" + relativePath
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Writes a file that starts with the GGUF magic (enough for config validation, not for loading).
    @discardableResult
    public func writeFakeModel(_ relativePath: String = "models/tiny.gguf") throws -> String {
        try write(relativePath, bytes: Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 16))
    }

    /// Writes `instances/<name>/config.json`.
    @discardableResult
    public func writeConfig(_ name: String, _ json: String) throws -> String {
        try write("instances/\(name)/config.json", json)
    }

    public func read(_ relativePath: String) -> String? {
        FileManager.default.contents(atPath: root + "/" + relativePath).map { String(decoding: $0, as: UTF8.self) }
    }

    public func exists(_ relativePath: String) -> Bool {
        FileManager.default.fileExists(atPath: root + "/" + relativePath)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
