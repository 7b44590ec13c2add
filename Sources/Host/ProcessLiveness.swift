import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Whether a recorded server process still runs: the same pid *and* the same start time, so a pid the
/// kernel reused for another program doesn't count.
public enum ProcessLiveness {
    /// The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22), or `nil` when there is
    /// no such process, it is a zombie, or `/proc` can't be read.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }

    /// Whether `pid` runs and, when `startTime` is not 0, started at that tick.
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard pid > 0 else { return false }
        if FileManager.default.fileExists(atPath: "/proc/self/stat") {
            guard let actual = Self.startTime(of: pid) else { return false }
            return startTime == 0 || actual == startTime
        }
        // No /proc (macOS): existence only.
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
