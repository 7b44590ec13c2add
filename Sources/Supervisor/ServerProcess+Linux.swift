import CHostShims
import Foundation
import Host
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#endif

/// One started llama-server: its ids, and its end once it comes.
///
/// The process leads its own session and process group (`POSIX_SPAWN_SETSID`), so the whole group, its
/// children included, can be signalled at once and a terminal's signals never reach it. It is reaped (`waitpid`)
/// as soon as it ends, so it never lingers as a zombie: `ExitMonitor` watches every server from one thread.
public final class ServerProcess: Sendable {
    /// The server's process id; also its process group and session id.
    public let pid: Int32
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22); 0 if it could not be read.
    public let startTime: UInt64
    /// The run's marker (`LLAMA_ORCH_RUN_ID`).
    public let runID: String
    private let watcher: ExitWatcher

    /// The process group: the server leads its own.
    public var processGroup: Int32 { pid }

    /// Starts `spec` with its standard output and error appended to the given descriptors and standard
    /// input from `/dev/null`; the markers for `instance` and `runID` are added to its environment.
    ///
    /// The descriptors are duplicated into the child; the caller still owns (and closes) its own.
    public static func spawn(
        _ spec: LaunchSpec, instance: String, runID: String, stdout: Int32, stderr: Int32
    ) throws(SupervisorError) -> ServerProcess {
        guard let executable = spec.argv.first, !executable.isEmpty else {
            throw .invalidLaunch(reason: "the command line is empty")
        }
        var environment = spec.environment
        environment[ProcessMarker.instance] = instance
        environment[ProcessMarker.run] = runID
        let variables = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        // Everything else the daemon has open (the state store, sockets) stays out of the server; descriptors
        // are opened close-on-exec as well, where closefrom is missing.
        let pid: pid_t
        switch CleanSpawn.spawn(
            spec.argv, environment: variables, stdin: .file("/dev/null", flags: O_RDONLY),
            stdout: .descriptor(stdout), stderr: .descriptor(stderr), newSession: true, closeOthers: true,
            workingDirectory: spec.workingDirectory)
        {
        case .success(let spawned): pid = spawned
        case .failure(let error): throw .spawnFailed(executable: executable, errno: error.code.rawValue)
        }
        waitForExec(pid)
        let startTime = ProcFS.stat(pid)?.startTime ?? 0
        return ServerProcess(pid: pid, startTime: startTime, runID: runID)
    }

    /// Waits (at most half a second, looking every 50 µs) until the child's `exec` has finished loading.
    ///
    /// `posix_spawn` returns once the child has dropped the parent's memory, which is before the kernel has
    /// set up the new program's environment: until then `/proc/<pid>/environ` is empty and the identity check
    /// would wrongly say "not ours".
    private static func waitForExec(_ pid: Int32) {
        for _ in 0..<10_000 {
            if let environment = ProcFS.readBytes("/proc/\(pid)/environ"), !environment.isEmpty { return }
            if let stat = ProcFS.stat(pid), stat.state == "Z" { return }
            usleep(50)
        }
    }

    /// Takes over a server a previous daemon started, after checking it is still that server.
    ///
    /// It is not a child of this process, so its end is noticed through a pidfd (where the kernel has none, by
    /// watching its identity in `/proc` every 50 ms), and its exit status is unknown.
    /// - Throws: `SupervisorError.notOurs` when pid, start time or marker don't match: the process is left alone.
    public static func adopt(_ run: RunInfo) throws(SupervisorError) -> ServerProcess {
        guard ProcessIdentity.matches(run: run), ProcFS.stat(run.pid)?.processGroup == run.processGroup else {
            throw .notOurs(pid: run.pid, instance: run.instance)
        }
        return ServerProcess(
            pid: run.pid, startTime: run.processStartTime, runID: run.runID, watcher: ExitWatcher(watching: run))
    }

    private init(pid: Int32, startTime: UInt64, runID: String, watcher: ExitWatcher? = nil) {
        self.pid = pid
        self.startTime = startTime
        self.runID = runID
        self.watcher = watcher ?? ExitWatcher(reaping: pid)
    }

    /// Waits until the server process itself has exited (its children may live on: see
    /// `ProcessGroupTerminator`).
    public func waitForExit() async -> ExitStatus {
        // A non-cancellable wait always ends with a status.
        await watcher.wait(cancellable: false) ?? .unknown
    }

    /// Waits like `waitForExit` (whether or not the calling task is cancelled), for at most `limit`: `nil` when the
    /// process still runs then. After SIGKILL, a process stuck in the kernel (`D` state: a GPU driver fault,
    /// a hung mount) never exits, and nothing waiting for it may wait forever.
    public func waitForExit(within limit: Duration) async -> ExitStatus? {
        await watcher.wait(cancellable: false, limit: limit)
    }

    /// Waits for the exit like `waitForExit`, but gives up with `nil` when the calling task is cancelled.
    func waitForExitUnlessCancelled() async -> ExitStatus? {
        await watcher.wait(cancellable: true)
    }

    /// The exit, if it happened already.
    public var exitStatus: ExitStatus? { watcher.status }
}

/// How a process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// A re-adopted server ended; not being its parent, the daemon can't know how.
    case unknown

    /// The same ending as the restart policy sees it.
    public var ending: RunEnding {
        switch self {
        case .exited(let status): .exited(status: status)
        case .signaled(let signal): .signaled(signal)
        case .unknown: .vanished
        }
    }

    public var description: String { ending.description }
}

/// Waits for one process to end and hands the status to every waiter: through the shared `ExitMonitor`, or
/// where there are no pidfds (or `monitor` is `nil`) on a thread of its own.
final class ExitWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var result: ExitStatus?
    private var waiters: [UInt64: CheckedContinuation<ExitStatus?, Never>] = [:]
    private var nextWaiter: UInt64 = 0
    /// Waiters whose limit passed before they began to wait.
    private var expired: Set<UInt64> = []

    /// Watches a re-adopted process. Not being its parent, the watcher can't reap it, and its exit status is
    /// unknown.
    init(watching run: RunInfo, monitor: ExitMonitor? = .shared) {
        if let monitor, let pidfd = ExitMonitor.open(run.pid) {
            // The pidfd names one process for good: checked again after opening it, a pid reused in between
            // can't be watched in the server's place.
            guard ProcessIdentity.matches(run: run) else {
                close(pidfd)
                finish(.unknown)
                return
            }
            monitor.watch(pidfd) { [self] in finish(.unknown) }
            return
        }
        // Without pidfds: the process's identity, looked at every 50 ms until it no longer matches.
        Thread.start(named: "watch \(run.pid)") { [self] in
            while ProcessIdentity.matches(run: run) { usleep(50_000) }
            finish(.unknown)
        }
    }

    /// Reaps a child of this process.
    init(reaping pid: Int32, monitor: ExitMonitor? = .shared) {
        if let monitor, let pidfd = ExitMonitor.open(pid) {
            // Readable once the child has ended: `waitpid` then returns at once.
            monitor.watch(pidfd) { [self] in finish(Self.reap(pid)) }
            return
        }
        Thread.start(named: "reap \(pid)") { [self] in finish(Self.reap(pid)) }
    }

    /// Waits for child `pid` to end and collects its status.
    private static func reap(_ pid: Int32) -> ExitStatus {
        var raw: Int32 = 0
        var returned: pid_t
        repeat {
            returned = waitpid(pid, &raw, 0)
        } while returned < 0 && errno == EINTR
        // Decoded by hand: WIFEXITED and friends are macros Swift does not import.
        return returned < 0 ? .exited(-1) : (raw & 0x7f) == 0 ? .exited((raw >> 8) & 0xff) : .signaled(raw & 0x7f)
    }

    var status: ExitStatus? {
        lock.lock()
        defer { lock.unlock() }
        return result
    }

    /// The status once the process has ended; `nil` if `cancellable` and the task is cancelled first.
    func wait(cancellable: Bool, limit: Duration? = nil) async -> ExitStatus? {
        let id = lock.withLock {
            nextWaiter += 1
            return nextWaiter
        }
        if let limit {
            // Past the limit the waiter (if still waiting) is answered `nil`.
            let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + max(0, seconds)) { [self] in
                lock.lock()
                let waiting = waiters.removeValue(forKey: id)
                // Not waiting yet: it must not start to once it registers.
                if waiting == nil { expired.insert(id) }
                lock.unlock()
                waiting?.resume(returning: nil)
            }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ExitStatus?, Never>) in
                lock.lock()
                if let result {
                    lock.unlock()
                    continuation.resume(returning: result)
                } else if (cancellable && Task.isCancelled) || expired.remove(id) != nil {
                    lock.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiters[id] = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            guard cancellable else { return }
            lock.lock()
            let waiting = waiters.removeValue(forKey: id)
            lock.unlock()
            waiting?.resume(returning: nil)
        }
    }

    private func finish(_ status: ExitStatus) {
        lock.lock()
        result = status
        let waiting = waiters.values
        waiters = [:]
        lock.unlock()
        waiting.forEach { $0.resume(returning: status) }
    }
}
