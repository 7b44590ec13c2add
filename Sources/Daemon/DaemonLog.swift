import Foundation
import Supervisor

#if canImport(Glibc)
    import Glibc
#endif

/// `logs/daemon.log`, where a daemon started in the background writes (its standard output and error): rotated
/// by size, so a daemon that runs for months doesn't fill the disk.
///
/// Rotation renames the file and opens a new one onto descriptors 1 and 2: nothing is copied and no line is
/// lost (one written in between lands at the end of `daemon.log.1`). A daemon whose output goes elsewhere (a
/// terminal, the journal under a boot unit) is left alone.
enum DaemonLog {
    /// Past this size the log is rotated.
    static let maxBytes = 10 << 20
    /// Rotated files kept: `daemon.log.1` (the newest) ... `daemon.log.3`.
    static let keep = 3
    /// How often the size is looked at.
    static let interval: Duration = .seconds(30)

    /// Rotates `path` when it has grown past `maxBytes` and the first of `descriptors` (standard error) writes
    /// to it; every one of `descriptors` that writes to it then writes to the new file. Returns whether it
    /// rotated.
    @discardableResult
    static func rotateIfNeeded(
        _ path: String, maxBytes: Int = maxBytes, keep: Int = keep,
        descriptors: [Int32] = [STDERR_FILENO, STDOUT_FILENO]
    ) -> Bool {
        var live = stat()
        guard stat(path, &live) == 0, Int(live.st_size) > maxBytes else { return false }
        func writesToLog(_ descriptor: Int32) -> Bool {
            var output = stat()
            return fstat(descriptor, &output) == 0 && output.st_dev == live.st_dev && output.st_ino == live.st_ino
        }
        guard let first = descriptors.first, writesToLog(first) else { return false }
        let redirected = descriptors.filter(writesToLog)
        let manager = FileManager.default
        try? manager.removeItem(atPath: "\(path).\(keep)")
        for index in stride(from: keep - 1, through: 1, by: -1) where manager.fileExists(atPath: "\(path).\(index)") {
            try? manager.moveItem(atPath: "\(path).\(index)", toPath: "\(path).\(index + 1)")
        }
        guard rename(path, "\(path).1") == 0 else { return false }
        let fresh = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fresh >= 0 else { return false }
        defer { close(fresh) }
        for descriptor in redirected { dup2(fresh, descriptor) }
        return true
    }
}
