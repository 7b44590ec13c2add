import ControlAPI
import Foundation
import Host
import OrchestratorCore
import Supervisor

/// Starts a daemon in the background and finds the running one, for `daemon start` and for every command
/// that needs one.
public enum DaemonLauncher {
    /// Starts `<this executable> daemon start --foreground --root R` in a new session, stdin from /dev/null and
    /// stdout and stderr appended to `logs/daemon.log`; returns its pid.
    public static func spawnBackground(root: ProjectRoot) throws(DaemonError) -> pid_t {
        do {
            try FileManager.default.createDirectory(atPath: root.logsDirectory, withIntermediateDirectories: true)
        } catch {
            throw .cannotStart("cannot create \(root.logsDirectory): \(error.localizedDescription)")
        }
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let arguments = [executable, "daemon", "start", "--foreground", "--root", root.path]
        // Its own session; it keeps no folder of the command that started it busy.
        switch CleanSpawn.spawn(
            arguments, stdin: .file("/dev/null", flags: O_RDONLY),
            stdout: .file(root.daemonLog, flags: O_WRONLY | O_APPEND | O_CREAT, mode: 0o600), stderr: .descriptor(1),
            newSession: true, closeOthers: true, workingDirectory: root.path)
        {
        case .success(let pid): return pid
        case .failure(let error):
            throw .cannotStart("cannot run \(executable): \(String(cString: strerror(error.code.rawValue)))")
        }
    }

    /// Waits until the daemon answers on the socket. A spawned `child` that exits early (another daemon won
    /// the lock, or it failed) is reaped; the wait goes on for `afterExit` in case another one answers, then the
    /// daemon's log says why.
    public static func waitUntilAnswering(
        root: ProjectRoot, child: pid_t?, timeout: Duration = .seconds(30), afterExit: Duration = .seconds(2)
    ) async throws(DaemonError) -> DaemonInfo {
        let client = ControlClient(socketPath: root.daemonSocket, timeout: .seconds(5))
        var deadline = ContinuousClock.now + timeout
        var childExited = false
        while ContinuousClock.now < deadline {
            if let info = try? await client.daemonInfo() { return info }
            if let child, !childExited {
                var status: Int32 = 0
                if waitpid(child, &status, WNOHANG) == child {
                    childExited = true
                    deadline = min(deadline, .now + afterExit)
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        let tail = LogFile.lastLinesText(of: root.daemonLog, count: 5)
        let log = tail.isEmpty ? "" : "; \(root.daemonLog) ends:\n\(tail)"
        if childExited { throw .cannotStart("the daemon exited as it started\(log)") }
        throw .cannotStart("no answer on \(root.daemonSocket) within \(timeout)\(log)")
    }

    /// The running daemon, started in the background first when none answers.
    ///
    /// - Returns: its description, and whether this call started it.
    public static func ensureRunning(root: ProjectRoot) async throws(DaemonError) -> (info: DaemonInfo, started: Bool) {
        let client = ControlClient(socketPath: root.daemonSocket, timeout: .seconds(5))
        if let info = try? await client.daemonInfo() { return (info, false) }
        let child = try spawnBackground(root: root)
        let info = try await waitUntilAnswering(root: root, child: child)
        return (info, info.pid == child)
    }
}
