import Foundation
import OrchestratorCore

/// Whether a daemon still runs the executable file it was started from. After an upgrade or a rebuild the
/// old daemon keeps running the old code (the kernel keeps the replaced file alive), and its answers can
/// differ from what the new CLI expects; the daemon and every command that talks to it say so.
public enum DaemonExecutable {
    /// The path `pid` was started from, when that file has been removed or replaced since; `nil` while it is
    /// still there, or when it can't be told (the process is gone or not readable).
    public static func replacedPath(of pid: Int32) -> String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe") else {
            return nil
        }
        // The kernel's mark of an executable whose name was unlinked (a rebuild or `install` replaces the file).
        let mark = " (deleted)"
        return target.hasSuffix(mark) ? String(target.dropLast(mark.count)) : nil
    }

    /// The warning for the daemon of `root` (its pid from `state/daemon.pid`), when its executable was replaced.
    public static func replacedWarning(root: ProjectRoot) -> String? {
        guard let pid = DaemonRunner.readPID(root), let path = replacedPath(of: pid) else { return nil }
        return replacedWarning(pid: pid, path: path)
    }

    /// What to tell the user about a daemon whose executable at `path` was replaced.
    public static func replacedWarning(pid: Int32, path: String) -> String {
        "the daemon (pid \(pid)) runs \(path) as it was when it started; that file has been replaced or removed "
            + "since. To run the new one: 'llama-orch daemon stop --keep-instances', then any command starts it "
            + "again and it re-adopts the running servers"
    }
}
