import Foundation

/// Where host facts are read from: `/proc` and `/sys` under a root folder.
///
/// The root is `/` on a real machine; tests point it at a folder that holds a fake `proc/meminfo`,
/// `proc/self/cgroup`, `sys/fs/cgroup/...`, so every rule is checked without the machine's own values.
public struct HostFileSystem: Sendable, Equatable {
    /// The folder that stands for `/`.
    public var root: String

    /// Creates a view of the files under `root` (`/` for the real machine).
    public init(root: String) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// The running machine's own files.
    public static let live = HostFileSystem(root: "/")

    /// The real path of an absolute path such as `/proc/meminfo`.
    public func path(_ absolute: String) -> String { root + absolute }

    /// The text of a file, or `nil` when it can't be read.
    public func read(_ absolute: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path(absolute)) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// The first line of a file, trimmed, or `nil` when the file can't be read.
    public func readLine(_ absolute: String) -> String? {
        read(absolute).map { $0.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? "" }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// A file holding one unsigned number (`memory.current`, `mem_info_vram_total`), or `nil`.
    public func readNumber(_ absolute: String) -> UInt64? {
        readLine(absolute).flatMap { UInt64($0) }
    }

    /// The entries of a folder, sorted, or none when it can't be listed.
    public func list(_ absolute: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(absolute))) ?? []).sorted()
    }

    /// Where a symbolic link points, or `nil`.
    public func linkTarget(_ absolute: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: path(absolute))
    }
}
