import Foundation
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

    private static func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }

    private static func run(of server: ServerProcess, instance: String = "exit-monitor") -> RunInfo {
        RunInfo(
            instance: instance, runID: server.runID, pid: server.pid, processGroup: server.processGroup,
            processStartTime: server.startTime, port: 1, argv: [], environment: [:], placementJSON: "{}",
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

    @Test func thirtyServersAreWatchedWithoutAThreadEach() async throws {
        let before = Self.threadCount()
        var servers: [ServerProcess] = []
        defer { servers.forEach { kill($0.pid, SIGKILL) } }
        for _ in 0..<30 { servers.append(try Self.spawn(["/bin/sleep", "30"])) }
        // One thread for all of them (at most: the monitor's, started by the first).
        #expect(Self.threadCount() - before <= 3, "threads grew from \(before) to \(Self.threadCount())")
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

    @Test func exitStatusesAreCollected() async throws {
        let quick = try Self.spawn(["/bin/sh", "-c", "exit 3"])
        #expect(await quick.waitForExit() == .exited(3))
        let clean = try Self.spawn(["/bin/sh", "-c", "sleep 0.1"])
        #expect(await clean.waitForExit() == .exited(0))
        #expect(clean.exitStatus == .exited(0))
    }

    @Test func aReadoptedServersEndIsNoticedWithoutPolling() async throws {
        let instance = "exit-monitor-adopt"
        var servers: [ServerProcess] = []
        defer { servers.forEach { kill($0.pid, SIGKILL) } }
        for _ in 0..<10 { servers.append(try Self.spawn(["/bin/sleep", "30"], instance: instance)) }
        let before = Self.threadCount()
        let adopted = try servers.map { try ServerProcess.adopt(Self.run(of: $0, instance: instance)) }
        #expect(Self.threadCount() - before <= 1, "threads grew from \(before) to \(Self.threadCount())")
        #expect(adopted[0].exitStatus == nil)
        kill(servers[0].pid, SIGKILL)
        #expect(await adopted[0].waitForExit() == .unknown)
        #expect(adopted[1].exitStatus == nil)
        for server in servers { kill(server.pid, SIGKILL) }
        for server in adopted { #expect(await server.waitForExit() == .unknown) }
    }

    @Test func aRunThatStopsMatchingOnceItsPidfdIsOpenIsOverAtOnce() async throws {
        let server = try Self.spawn(["/bin/sleep", "30"])
        defer { kill(server.pid, SIGKILL) }
        var stale = Self.run(of: server)
        stale.runID = "some other run"
        let watcher = ExitWatcher(watching: stale)
        #expect(watcher.status == .unknown)
        #expect(isAlive(server.pid))
    }

    @Test func withoutPidfdsAThreadReapsAndWatches() async throws {
        let pid = try Self.spawnBare(["/bin/sh", "-c", "exit 7"])
        let reaper = ExitWatcher(reaping: pid, monitor: nil)
        #expect(await reaper.wait(cancellable: false) == .exited(7))

        let server = try Self.spawn(["/bin/sleep", "30"])
        defer { kill(server.pid, SIGKILL) }
        let watcher = ExitWatcher(watching: Self.run(of: server), monitor: nil)
        try await Task.sleep(for: .milliseconds(100))
        #expect(watcher.status == nil)
        kill(server.pid, SIGKILL)
        #expect(await watcher.wait(cancellable: false) == .unknown)
    }
}
