import Foundation
import Host
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#endif

/// `logs/<name>/stdout.log` and `stderr.log` of one instance, and their size-based rotation.
///
/// The files are opened `O_APPEND` and handed to the server as its standard output and error: lines go from
/// the server straight to disk, so a daemon that dies or restarts loses nothing and the server never gets
/// SIGPIPE.
///
/// Rotation is copy-truncate: the live file is copied to `.1` (older copies shift to `.2` ... `.N`) and then
/// truncated in place. The server keeps its descriptor and is never blocked or signalled; because it writes
/// with `O_APPEND`, its next line lands at the new end of the truncated file (no hole). What it writes during
/// the copy is copied too (catch-up passes); the price is that a line written in the moment between the last
/// pass and the truncation is lost. The alternative, renaming the file, would need the server to reopen it,
/// which llama-server can't be asked to do.
public struct InstanceLogs: Sendable, Equatable {
    /// `logs/<name>`.
    public let folder: String

    /// The logs of `instance` under the project root's `logs/` folder.
    public init(root: String, instance: String) {
        folder = root + "/logs/" + instance
    }

    /// The live standard output log.
    public var stdoutPath: String { folder + "/stdout.log" }
    /// The live standard error log.
    public var stderrPath: String { folder + "/stderr.log" }

    /// Opens both logs for appending (creating folder and files); the caller closes the descriptors once the
    /// server has them.
    public func openForServer() throws(SupervisorError) -> (stdout: Int32, stderr: Int32) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw .logFile(path: folder, reason: error.localizedDescription)
        }
        let out = try Self.openAppending(stdoutPath)
        do {
            return (out, try Self.openAppending(stderrPath))
        } catch {
            close(out)
            throw error
        }
    }

    private static func openAppending(_ path: String) throws(SupervisorError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .logFile(path: path, reason: String(cString: strerror(errno))) }
        return descriptor
    }

    /// Rotates each live log that has grown past `rotation.maxBytes`.
    ///
    /// - Parameter cancelled: asked between chunks of a copy; once it says yes, the copy is dropped and the live
    ///   log left as it is (a later rotation does it).
    /// - Returns: each log that needed rotating, and how that went (logs under the limit are left out).
    @discardableResult
    public func rotateIfNeeded(
        _ rotation: LogRotation, cancelled: () -> Bool = { false }
    ) -> [(path: String, outcome: LogRotationOutcome)] {
        [stdoutPath, stderrPath].compactMap { path in
            guard !cancelled(), let size = Self.size(of: path), size > rotation.maxBytes else { return nil }
            return (path, Self.rotate(path, keep: rotation.keep, cancelled: cancelled))
        }
    }

    /// Whether a live log has grown past `rotation.maxBytes` (two `stat` calls: cheap enough for any thread).
    public func needsRotation(_ rotation: LogRotation) -> Bool {
        [stdoutPath, stderrPath].contains { (Self.size(of: $0) ?? 0) > rotation.maxBytes }
    }

    static func size(of path: String) -> Int? {
        FileIdentity(path: path)?.size
    }

    /// Copies the live file aside (with what is appended during the copy), then shifts `.1`...`.keep-1` up by one,
    /// makes the copy `.1` and truncates the live file at once. When the copy fails or is cancelled (a stop) nothing
    /// has moved: the live file and the rotated ones are as they were, and the next check tries again. (Shifting
    /// first left a gap where `.1` was, and the oldest file gone, each time a stop cancelled a copy.)
    static func rotate(_ path: String, keep: Int, cancelled: () -> Bool = { false }) -> LogRotationOutcome {
        if keep > 0 {
            let pending = "\(path).rotating"
            let copied = copy(path, to: pending, cancelled: cancelled)
            guard copied == .rotated else { return copied }
            shiftRotated(path, keep: keep)
            guard rename(pending, "\(path).1") == 0 else {
                let reason = "cannot rename \(pending) to \(path).1: \(systemError())"
                unlink(pending)
                return .failed(reason)
            }
        }
        return truncate(path, 0) == 0 ? .rotated : .failed("cannot truncate \(path): \(systemError())")
    }

    /// Makes room for a new `path.1`: `path.keep` is removed and `.1`...`.keep-1` each move up one.
    public static func shiftRotated(_ path: String, keep: Int) {
        guard keep > 0 else { return }
        unlink("\(path).\(keep)")
        for index in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(index)", "\(path).\(index + 1)") }
    }

    /// Copies with plain reads and writes into a fresh file: the source up to its size when opened, then what
    /// the server appended meanwhile, in up to `catchUpPasses` more passes. The truncation that follows a copy
    /// then loses only what is written in the moment between the last pass and it, and a server writing faster
    /// than the copy can't keep it going. A copy that is `cancelled` part way, or fails, is removed. `.rotated`
    /// means copied.
    static func copy(
        _ source: String, to destination: String, catchUpPasses: Int = 3, cancelled: () -> Bool = { false }
    ) -> LogRotationOutcome {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return .failed("cannot read \(source): \(systemError())") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { return .failed("cannot create \(destination): \(systemError())") }
        defer { close(output) }
        let fail = { (reason: String) -> LogRotationOutcome in
            unlink(destination)
            return .failed(reason)
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var copied = 0
        var target = FileIdentity(descriptor: input)?.size ?? 0
        var passes = 0
        while true {
            while copied < target {
                if cancelled() {
                    unlink(destination)
                    return .cancelled
                }
                let count = buffer.withUnsafeMutableBytes {
                    read(input, $0.baseAddress, min($0.count, target - copied))
                }
                if count < 0, errno == EINTR { continue }
                if count < 0 { return fail("cannot read \(source): \(systemError())") }
                // Shorter than it was: someone else truncated it. What was read is the copy.
                if count == 0 { return .rotated }
                var written = 0
                while written < count {
                    let step = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, count - written) }
                    if step < 0, errno == EINTR { continue }
                    if step <= 0 {
                        return fail("cannot write \(destination): \(step < 0 ? systemError() : "nothing written")")
                    }
                    written += step
                }
                copied += count
            }
            guard passes < catchUpPasses, let size = FileIdentity(descriptor: input)?.size, size > copied else {
                return .rotated
            }
            passes += 1
            target = size
        }
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}

/// How the rotation of one log went.
public enum LogRotationOutcome: Sendable, Equatable {
    /// Copied to `.1` (or dropped, with no copies kept) and truncated.
    case rotated
    /// Stopped part way because its supervision ended; the live log is as it was.
    case cancelled
    /// Not rotated, and why (a full disk, a file in the way); the live log is as it was and keeps growing until
    /// a later rotation works.
    case failed(String)
}

/// When logs rotate and how many old files stay.
public struct LogRotation: Sendable, Equatable {
    /// A live log past this size is rotated.
    public var maxBytes: Int
    /// Rotated files kept (`.1` ... `.keep`); 0 truncates without keeping a copy.
    public var keep: Int

    public init(maxBytes: Int, keep: Int) {
        self.maxBytes = max(1, maxBytes)
        self.keep = max(0, keep)
    }

    /// From an instance's `logs` settings (`max_size_mb` in MiB, `rotation` files kept).
    public init(settings: InstanceConfig.Logs) {
        self.init(maxBytes: settings.maxSizeMB * 1_048_576, keep: settings.rotation)
    }
}
