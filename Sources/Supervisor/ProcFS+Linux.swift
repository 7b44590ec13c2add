import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads `/proc`: process status lines, environments and open files. Linux only; every reader returns
/// `nil` for a process that is gone or that this user may not read, never crashes on odd contents.
enum ProcFS {
    /// The fields of `/proc/<pid>/stat` that the supervisor uses.
    struct Stat: Equatable {
        /// One letter: R running, S sleeping, T stopped, Z zombie, ...
        var state: Character
        var parent: Int32
        var processGroup: Int32
        var session: Int32
        /// Field 22: clock ticks since boot at which the process started.
        var startTime: UInt64
    }

    /// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and parentheses, so the
    /// fields are counted after the last `)`.
    static func parseStat(_ line: String) -> Stat? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        // fields[0] is field 3 (state); field N is fields[N - 3].
        guard fields.count > 19, let state = fields[0].first, let parent = Int32(fields[1]),
            let group = Int32(fields[2]), let session = Int32(fields[3]), let start = UInt64(fields[19])
        else { return nil }
        return Stat(state: state, parent: parent, processGroup: group, session: session, startTime: start)
    }

    static func stat(_ pid: Int32) -> Stat? {
        guard let text = readText("/proc/\(pid)/stat") else { return nil }
        return parseStat(text)
    }

    /// The environment of a process (`/proc/<pid>/environ`), as it was when the process last called `exec`.
    static func environment(_ pid: Int32) -> [String: String]? {
        guard let bytes = readBytes("/proc/\(pid)/environ") else { return nil }
        var environment: [String: String] = [:]
        for entry in bytes.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }

    /// The short command name (`/proc/<pid>/comm`, at most 15 characters).
    static func commandName(_ pid: Int32) -> String? {
        readText("/proc/\(pid)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every process id in `/proc`.
    static func allPIDs() -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { Int32($0) }
    }

    /// Processes of group `group` that are alive (zombies, already dead, don't count).
    static func livingMembers(ofGroup group: Int32) -> [Int32] {
        allPIDs().filter { pid in
            guard let stat = stat(pid) else { return false }
            return stat.processGroup == group && stat.state != "Z" && stat.state != "X"
        }
    }

    /// Calls `body` with each line of a file read 64 KiB at a time (the last, unterminated line too); the
    /// file's whole text is never held at once.
    static func forEachLine(of path: String, _ body: (Substring) -> Void) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pending: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending.append(contentsOf: buffer[0..<count])
            guard let last = pending.lastIndex(of: 10) else { continue }
            String(decoding: pending[...last], as: UTF8.self).split(separator: "\n").forEach(body)
            pending.removeSubrange(...last)
        }
        if !pending.isEmpty { String(decoding: pending, as: UTF8.self).split(separator: "\n").forEach(body) }
    }

    static func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads a whole file with plain `read(2)` (files in /proc report size 0, so no size is trusted).
    static func readBytes(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return result.isEmpty ? nil : result
            }
            if count == 0 { return result }
            result.append(contentsOf: buffer[0..<count])
        }
    }
}
