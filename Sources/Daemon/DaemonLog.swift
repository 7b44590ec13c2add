import CSupervisorShims
import Foundation
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
    /// to it; every one of `descriptors` that writes to it then writes to the new file. Returns whether it
    /// rotated.
    @discardableResult
    static func rotateIfNeeded(
        _ path: String, maxBytes: Int = maxBytes, keep: Int = keep,
        descriptors: [Int32] = [STDERR_FILENO, STDOUT_FILENO]
    ) -> Bool {
        guard let file = identity(of: path), file.size > maxBytes else { return false }
        let writesToLog = { (descriptor: Int32) -> Bool in
            guard let output = identity(of: descriptor) else { return false }
            return output.device == file.device && output.inode == file.inode
        }
        guard let first = descriptors.first, writesToLog(first) else { return false }
        let redirected = descriptors.filter(writesToLog)
        // The new file first: if it can't be made, nothing is renamed and the daemon keeps its log.
        let next = "\(path).new"
        let fresh = open(next, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fresh >= 0 else { return false }
        defer { close(fresh) }
        InstanceLogs.shiftRotated(path, keep: keep)
        guard keep > 0 ? rename(path, "\(path).1") == 0 : unlink(path) == 0, rename(next, path) == 0 else {
            unlink(next)
            return false
        }
        for descriptor in redirected { dup2(fresh, descriptor) }
        return true
    }

    private struct Identity {
        var device: UInt64
        var inode: UInt64
        var size: Int
    }

    private static func identity(of path: String) -> Identity? {
        identity(path, -1)
    }

    private static func identity(of descriptor: Int32) -> Identity? {
        identity(nil, descriptor)
    }

    private static func identity(_ path: String?, _ descriptor: Int32) -> Identity? {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var size: Int64 = 0
        let result =
            if let path {
                csupervisor_file_identity(path, -1, &device, &inode, &size)
            } else {
                csupervisor_file_identity(nil, descriptor, &device, &inode, &size)
            }
        return result == 0 ? Identity(device: device, inode: inode, size: Int(size)) : nil
    }
}
