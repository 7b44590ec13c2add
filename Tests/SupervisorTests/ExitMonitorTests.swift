import Foundation
import Host
import OrchestratorCore
import Testing

@testable import Supervisor

#if canImport(Glibc)
    import Glibc
#endif

/// Every server's end is learnt from one thread (pidfds): no thread per server, no polling of re-adopted
/// servers; and where there are no pidfds, a thread per process still reaps and watches correctly.
@Suite(.serialized) struct ExitMonitorTests {
    private static func spec(_ argv: [String]) -> LaunchSpec {
        LaunchSpec(argv: argv, environment: ProcessInfo.processInfo.environment, port: 1)
    }

    private static func spawn(_ argv: [String], instance: String = "exit-monitor") throws -> ServerProcess {
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        return try ServerProcess.spawn(
            spec(argv), instance: instance, runID: UUID().uuidString, stdout: null, stderr: null)
    }

    /// This process's threads that wait for one process each (named `reap <pid>` and `watch <pid>`).
    private static func waitingThreads() -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return name.hasPrefix("reap ") || name.hasPrefix("watch ")
        }.count
    }

    private static func killLive(_ servers: [ServerProcess]) {
        for server in servers where server.exitStatus == nil { kill(server.pid, SIGKILL) }
    }

    private static func run(of server: ServerProcess, instance: String = "exit-monitor") -> RunInfo {
        RunInfo(
            instance: instance, runID: server.runID, pid: server.pid, processGroup: server.processGroup,
            processStartTime: server.startTime, port: 1, argv: [], environment: [:],
            startedAt: 0)
    }

    /// A child spawned by hand (no `ServerProcess`, so nothing else reaps it).
    private static func spawnBare(_ argv: [String]) throws -> Int32 {
        var pid: pid_t = 0
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let result = posix_spawn(&pid, argv[0], nil, nil, arguments, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
        return pid
    }

    @Test func thePlatformHasPidfds() {
        // Linux 5.3 and later: the daemon runs without a thread per server only with them.
        #expect(ExitMonitor.shared != nil, "pidfd_open(2) is missing: Linux 5.3 or later is needed")
    }

    @Test(.enabled(if: ExitMonitor.shared != nil)) func thirtyServersAreWatchedWithoutAThreadEach() async throws {
        var servers: [ServerProcess] = []
        defer { Self.killLive(servers) }
        for _ in 0..<30 { servers.append(try Self.spawn(["/bin/sleep", "30"])) }
        // The monitor's one thread for all of them; none of their own.
        #expect(Self.waitingThreads() == 0)
        #expect((ExitMonitor.shared?.count ?? 0) >= 30)

        kill(servers[0].pid, SIGKILL)
        #expect(await servers[0].waitForExit() == .signaled(SIGKILL))
        // Reaped: no zombie is left.
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(servers[0].pid)"))
        kill(servers[1].pid, SIGTERM)
        #expect(await servers[1].waitForExit() == .signaled(SIGTERM))
        for server in servers.dropFirst(2) { kill(server.pid, SIGKILL) }
        for server in servers.dropFirst(2) { #expect(await server.waitForExit() == .signaled(SIGKILL)) }
        #expect(servers.allSatisfy { !FileManager.default.fileExists(atPath: "/proc/\($0.pid)") })
    }

    @Test func aBoundedWaitGivesUpOnAProcessThatLivesOnWhateverTheTasksCancellation() async throws {
        let lasting = try Self.spawn(["/bin/sleep", "30"])
        defer {
            kill(lasting.pid, SIGKILL)
            _ = lasting.exitStatus
        }
        let began = ContinuousClock.now
        #expect(await lasting.waitForExit(within: .milliseconds(200)) == nil)
        let waited = ContinuousClock.now - began
        // Its own 200 ms, well before the process's 30 s.
        #expect(waited >= .milliseconds(200) && waited < .seconds(10), "\(waited)")
        // A cancelled caller (a `stop`) still waits the whole limit: the bound is the only way out.
        let cancelled = Task { await lasting.waitForExit(within: .milliseconds(300)) }
        cancelled.cancel()
        let cancelledBegan = ContinuousClock.now
        #expect(await cancelled.value == nil)
        #expect(ContinuousClock.now - cancelledBegan >= .milliseconds(250))
        // A limit that passes before the wait begins.
        #expect(await lasting.waitForExit(within: .zero) == nil)
        // One that ends in time: its status.
        let quick = try Self.spawn(["/bin/sh", "-c", "sleep 0.1; exit 3"])
        #expect(await quick.waitForExit(within: .seconds(10)) == .exited(3))
    }

    @Test func exitStatusesAreCollected() async throws {
        let quick = try Self.spawn(["/bin/sh", "-c", "exit 3"])
        #expect(await quick.waitForExit() == .exited(3))
        let clean = try Self.spawn(["/bin/sh", "-c", "sleep 0.1"])
        #expect(await clean.waitForExit() == .exited(0))
        #expect(clean.exitStatus == .exited(0))
    }

    @Test(.enabled(if: ExitMonitor.shared != nil)) func aReadoptedServersEndIsNoticedWithoutPolling() async throws {
        let instance = "exit-monitor-adopt"
        var servers: [ServerProcess] = []
        defer { Self.killLive(servers) }
        for _ in 0..<10 { servers.append(try Self.spawn(["/bin/sleep", "30"], instance: instance)) }
        let adopted = try servers.map { try ServerProcess.adopt(Self.run(of: $0, instance: instance)) }
        #expect(Self.waitingThreads() == 0)
        #expect(adopted[0].exitStatus == nil)
        kill(servers[0].pid, SIGKILL)
        #expect(await adopted[0].waitForExit() == .unknown)
        #expect(adopted[1].exitStatus == nil)
        for server in servers { kill(server.pid, SIGKILL) }
        for server in adopted { #expect(await server.waitForExit() == .unknown) }
    }

    @Test(.enabled(if: ExitMonitor.shared != nil)) func aRunThatStopsMatchingOnceItsPidfdIsOpenIsOverAtOnce()
        async throws
    {
        let server = try Self.spawn(["/bin/sleep", "30"])
        defer { Self.killLive([server]) }
        var stale = Self.run(of: server)
        stale.runID = "some other run"
        let watcher = ExitWatcher(watching: stale)
        #expect(watcher.status == .unknown)
        #expect(isAlive(server.pid))
    }

    @Test func withoutPidfdsAThreadReapsAndWatches() async throws {
        let pid = try Self.spawnBare(["/bin/sh", "-c", "sleep 1; exit 7"])
        let reaper = ExitWatcher(reaping: pid, monitor: nil)
        // A thread of its own, named after the process (once it runs; it ends with the process).
        var threads = 0
        #expect(
            await SupervisorHarness.eventually {
                threads = Self.waitingThreads()
                return threads > 0
            })
        #expect(threads == 1)
        #expect(await reaper.wait(cancellable: false) == .exited(7))

        let server = try Self.spawn(["/bin/sleep", "30"])
        defer { Self.killLive([server]) }
        let watcher = ExitWatcher(watching: Self.run(of: server), monitor: nil)
        try await Task.sleep(for: .milliseconds(100))
        #expect(watcher.status == nil)
        kill(server.pid, SIGKILL)
        #expect(await watcher.wait(cancellable: false) == .unknown)
    }
}
