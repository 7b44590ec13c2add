import Foundation
import Host
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
        let foreign = try TestChild.sleeper()
        defer { foreign.stop() }
        let pid = foreign.pid
        let startTime = try #require(ProcessIdentity.startTime(of: pid))
        // A row that names the stranger's pid and even its start time: the marker is missing.
        let run = RunInfo(
            instance: "ghost", runID: "run-of-a-dead-server", pid: pid, processGroup: getpgid(pid),
            processStartTime: startTime, port: 1, argv: ["llama-server"], environment: [:],
            startedAt: 0)
        #expect(!ProcessIdentity.matches(run: run))
        var reused = run
        reused.processStartTime = startTime - 1
        #expect(!ProcessIdentity.matches(run: reused))
        // Its process group is the test runner's own: signalling it would be fatal, and must not happen.
        #expect(await ProcessIdentity.stopIfOurs(run: run, grace: .milliseconds(100)) == false)
        try await Task.sleep(for: .milliseconds(100))
        #expect(isAlive(pid))
        #expect(foreign.process.isRunning)
    }

    @Test func aSupervisedRunMatchesUntilItEnds() async throws {
        let harness = try SupervisorHarness("identity")
        try await harness.with(try harness.supervisor(harness.spec(), SupervisorHarness.settings())) { supervisor in
            try await supervisor.start()
            let run = try #require(try harness.runs().first)
            #expect(run.pid == (await supervisor.pid))
            #expect(run.processStartTime == ProcessIdentity.startTime(of: run.pid))
            #expect(run.environment[ProcessMarker.instance] == harness.instance)
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

    @Test func aRecordedServerIsReadoptedAndSupervised() async throws {
        let harness = try SupervisorHarness("adopt")
        let spec = harness.spec()
        // What a previous daemon left: a running server and its run record.
        let logs = InstanceLogs(root: harness.project.root, instance: harness.instance)
        let (server, run) = try harness.spawnRecorded(spec, logs: try logs.openForServer())
        try await harness.with(try harness.supervisor(spec, SupervisorHarness.settings())) { supervisor in
            var stale = run
            stale.processStartTime += 1
            await #expect(throws: SupervisorError.notOurs(pid: server.pid, instance: harness.instance)) {
                try await supervisor.adopt(stale)
            }
            #expect(isAlive(server.pid))
            // The previous daemon had restarted it twice: backoff goes on from there.
            try harness.store.incrementRestartCount(for: harness.instance)
            try harness.store.incrementRestartCount(for: harness.instance)
            try await supervisor.adopt(run)
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            #expect(await supervisor.pid == server.pid)
            // It dies; not being its parent, the supervisor notices through /proc and restarts it.
            kill(server.pid, SIGKILL)
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: server.pid))
            let states = try harness.events("state").map(\.message)
            #expect(states.contains { $0.contains("ended while re-adopted (exit status unknown); restart 3") })
            #expect(try harness.runs().count == 2)
            #expect(try harness.runs().first?.endedAt != nil)
        }
    }

    /// A daemon that stopped while its server loaded left the run unmeasured: the next one reads the server's
    /// buffer lines from where that run began in the log, not an earlier run's.
    @Test func aServerReadoptedBeforeItWasMeasuredIsMeasuredFromItsOwnLines() async throws {
        let harness = try SupervisorHarness("adopt-measure")
        let spec = harness.spec()
        let logs = InstanceLogs(root: harness.project.root, instance: harness.instance)
        let earlier = """
            llama_model_loader: loaded meta data with 21 key-value pairs
            load_tensors:   CPU_Mapped model buffer size =   900.00 MiB
            llama_context:        CPU compute buffer size =    90.00 MiB

            """
        let own = """
            llama_model_loader: loaded meta data with 21 key-value pairs
            load_tensors:   CPU_Mapped model buffer size =    12.50 MiB
            llama_kv_cache:        CPU KV buffer size =     2.00 MiB
            llama_context:        CPU compute buffer size =     3.25 MiB

            """
        let descriptors = try logs.openForServer()
        #expect(write(descriptors.stderr, earlier, earlier.utf8.count) == earlier.utf8.count)
        let offsets = LogOffsets(
            stdout: FileIdentity(descriptor: descriptors.stdout)?.size ?? -1,
            stderr: FileIdentity(descriptor: descriptors.stderr)?.size ?? -1)
        #expect(write(descriptors.stderr, own, own.utf8.count) == own.utf8.count)
        let (_, run) = try harness.spawnRecorded(spec, logs: descriptors, logOffsets: offsets)
        try await harness.with(try harness.supervisor(spec, SupervisorHarness.settings())) { supervisor in
            try await supervisor.adopt(run)
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            let measured = try #require(try harness.runs().first?.measured)
            #expect(measured == ServerLogAllocations.parse(own))
            #expect(measured.totalBytes == UInt64(17.75 * 1_048_576))
            #expect(await supervisor.currentRun?.measured == measured)
            await supervisor.stop()
        }
    }

    @Test func aDetachedServerOutlivesItsSupervisorAndIsReadoptedByTheNext() async throws {
        let harness = try SupervisorHarness("detach")
        let spec = harness.spec()
        // The old daemon's supervisor: it starts the server, then the daemon shuts down.
        let old = try harness.supervisor(spec, SupervisorHarness.settings())
        try await old.start()
        #expect(await SupervisorHarness.wait(for: .healthy, old))
        let pid = try #require(await old.pid)
        await old.detach()
        #expect(isAlive(pid))
        let open = try harness.store.openRuns().filter { $0.instance == harness.instance }
        #expect(open.map(\.pid) == [pid])
        // The new daemon's supervisor takes it over from the record.
        try await harness.with(try harness.supervisor(spec, SupervisorHarness.settings())) { new in
            try await new.adopt(try #require(open.first))
            #expect(await SupervisorHarness.wait(for: .healthy, new))
            #expect(await new.pid == pid)
            #expect(try harness.runs().count == 1)
            await new.stop()
            #expect(!isAlive(pid))
            #expect(try harness.store.openRuns().isEmpty)
        }
        #expect(try harness.events("detached").count == 1)
    }
}
