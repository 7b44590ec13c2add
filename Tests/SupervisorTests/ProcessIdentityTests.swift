import Foundation
import OrchestratorCore
import StateStore
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Re-adoption's safety: a recorded run is ours only if pid, start time and marker all match; nothing else is
/// ever signalled.
@Suite(.serialized) struct ProcessIdentityTests {
    @Test func aForeignProcessGivenARecordedPidIsNeverTouched() async throws {
        let foreign = Process()
        foreign.executableURL = URL(fileURLWithPath: "/bin/sleep")
        foreign.arguments = ["30"]
        try foreign.run()
        defer {
            kill(foreign.processIdentifier, SIGKILL)
            foreign.waitUntilExit()
        }
        let pid = foreign.processIdentifier
        let startTime = try #require(ProcessIdentity.startTime(of: pid))
        // A row that names the stranger's pid and even its start time: the marker is missing.
        let run = RunInfo(
            instance: "ghost", runID: "run-of-a-dead-server", pid: pid, processGroup: getpgid(pid),
            processStartTime: startTime, port: 1, argv: ["llama-server"], environment: [:], placementJSON: "{}",
            startedAt: 0)
        #expect(!ProcessIdentity.matches(run: run))
        var reused = run
        reused.processStartTime = startTime - 1
        #expect(!ProcessIdentity.matches(run: reused))
        // Its process group is the test runner's own: signalling it would be fatal, and must not happen.
        #expect(await ProcessIdentity.stopIfOurs(run: run, grace: .milliseconds(100)) == false)
        try await Task.sleep(for: .milliseconds(100))
        #expect(isAlive(pid))
        #expect(foreign.isRunning)
    }

    @Test func aSupervisedRunMatchesUntilItEnds() async throws {
        let harness = try SupervisorHarness("identity")
        try await harness.with(try harness.supervisor(harness.spec(), SupervisorHarness.settings())) { supervisor in
            try await supervisor.start()
            let run = try #require(try harness.runs().first)
            #expect(run.pid == (await supervisor.pid))
            #expect(run.processStartTime == ProcessIdentity.startTime(of: run.pid))
            #expect(run.environment[LaunchSpec.instanceMarker] == harness.instance)
            #expect(ProcessIdentity.matches(run: run))
            var otherRun = run
            otherRun.runID = UUID().uuidString
            #expect(!ProcessIdentity.matches(run: otherRun))
            #expect(
                ProcessIdentity.unrecorded(knownRuns: try harness.store.openRuns()).allSatisfy {
                    $0.instance != harness.instance
                })
            await supervisor.stop()
            #expect(!ProcessIdentity.matches(run: run))
            #expect(try harness.store.openRuns().isEmpty)
        }
    }

    @Test func markedProcessesWithoutARowAreFound() async throws {
        let harness = try SupervisorHarness("unrecorded")
        defer { harness.project.remove() }
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        let runID = UUID().uuidString.lowercased()
        let server = try ServerProcess.spawn(
            harness.spec(), instance: harness.instance, runID: runID, stdout: null, stderr: null)
        let found = ProcessIdentity.unrecorded(knownRuns: try harness.store.openRuns()).filter {
            $0.instance == harness.instance
        }
        #expect(found.map(\.pid) == [server.pid])
        #expect(found.first?.runID == runID)
        #expect(found.first?.processGroup == server.pid)
        #expect(found.first?.startTime == server.startTime)
        await ProcessGroupTerminator.stop(group: server.processGroup, grace: .seconds(1))
        #expect(await server.waitForExit() == .signaled(SIGTERM))
        #expect(harness.leftovers().isEmpty)
    }
}
