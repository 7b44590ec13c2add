import Foundation
import Host
import Supervisor

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
    /// to it; every one of `descriptors` that writes to it then writes to the new file. `nil` when the log was
    /// left alone (under its limit, or not the daemon's output); `.failed` keeps the file the daemon had.
    @discardableResult
    static func rotateIfNeeded(
        _ path: String, maxBytes: Int = maxBytes, keep: Int = keep,
        descriptors: [Int32] = [STDERR_FILENO, STDOUT_FILENO]
    ) -> LogRotationOutcome? {
        guard let file = FileIdentity(path: path), file.size > maxBytes else { return nil }
        let writesToLog = { (descriptor: Int32) -> Bool in
            FileIdentity(descriptor: descriptor)?.isSameFile(as: file) == true
        }
        guard let first = descriptors.first, writesToLog(first) else { return nil }
        let redirected = descriptors.filter(writesToLog)
        // The new file first: if it can't be made, nothing is renamed and the daemon keeps its log.
        let next = "\(path).new"
        let fresh = open(next, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fresh >= 0 else { return .failed("cannot create \(next): \(String(cString: strerror(errno)))") }
        defer { close(fresh) }
        InstanceLogs.shiftRotated(path, keep: keep)
        let steps: [(done: () -> Bool, what: String)] = [
            keep > 0
                ? ({ rename(path, "\(path).1") == 0 }, "cannot rename \(path) to \(path).1")
                : ({ unlink(path) == 0 }, "cannot remove \(path)"),
            ({ rename(next, path) == 0 }, "cannot rename \(next) to \(path)"),
        ]
        for step in steps where !step.done() {
            let reason = String(cString: strerror(errno))
            unlink(next)
            return .failed("\(step.what): \(reason)")
        }
        for descriptor in redirected { dup2(fresh, descriptor) }
        return .rotated
    }
}
