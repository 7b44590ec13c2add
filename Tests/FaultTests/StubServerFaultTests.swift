import ControlAPI
import Foundation
import Host
import OrchestratorCore
import StateStore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// Faults the stub server stands in for: a wedged generation, a wrapper script, an orphan on the port, a bad config.
extension FaultTests {
    // Failure: a server whose /health answers but whose generation hangs is not restarted within the probe bound.
    @Test(.timeLimit(.minutes(2))) func hungGenerationIsRestartedWithinTheInferenceProbeBound() async throws {
        let harness = try DaemonHarness("fault-hung")
        defer { harness.cleanUp() }
        // Completions hang while this file exists; /health answers throughout.
        let wedge = harness.root + "/wedged"
        let (interval, timeout, retries) = (0.5, 0.3, 3)
        try harness.stubInstance(
            "hung", port: try LlamaServerProbe.freePort(), args: ["--hang-completion-while", wedge],
            healthcheck:
                #"{"type": "inference", "interval": \#(interval), "timeout": \#(timeout), "retries": \#(retries), "#
                + #""start_period": 10}"#)
        try harness.ok(["up", "hung", "--wait", "--timeout", "60"])
        let first = try #require(try harness.status("hung")?.pid)

        let wedgedAt = epochNow()
        try harness.project.write("wedged", "")
        #expect(
            try await DaemonHarness.eventually(.seconds(30)) { try !harness.times("hung", into: .unhealthy).isEmpty })
        let unhealthyAt = try #require(try harness.times("hung", into: .unhealthy).first)
        // The last counted probe starts at most `retries` intervals after the wedge and fails `timeout` later (the
        // timeout is below the interval: a probe that overran its slot would push the next one a full interval back).
        let bound = interval * Double(retries) + timeout
        #expect(unhealthyAt - wedgedAt <= bound + 1.5, "unhealthy \(unhealthyAt - wedgedAt) s after the wedge")
        #expect(unhealthyAt - wedgedAt >= timeout, "a probe must have timed out first")

        // Restarted through the daemon: a new server, the restart counted, and healthy again once unwedged.
        #expect(
            try await DaemonHarness.eventually(.seconds(30)) { try harness.times("hung", of: "started").count == 2 })
        try FileManager.default.removeItem(atPath: wedge)
        #expect(try await DaemonHarness.eventually(.seconds(30)) { try harness.status("hung")?.state == .healthy })
        let after = try #require(try harness.status("hung"))
        #expect(after.pid != first && after.pid != nil)
        #expect(after.restarts == 1)
        #expect(!DaemonHarness.isAlive(first))
        let failed = try harness.events("hung").filter { $0.kind == "probe-failed" }
        #expect(failed.count >= retries && failed.allSatisfy { $0.message.contains("POST /completion") }, "\(failed)")
    }

    // Failure: `down` leaves the llama-server that a wrapper script (binary.path) forked running.
    @Test(.timeLimit(.minutes(2))) func downLeavesNoProcessOfAWrapperScriptsGroup() async throws {
        let harness = try DaemonHarness("fault-wrapper")
        defer { harness.cleanUp() }
        let wrapper = try harness.project.write(
            "bin/wrapper.sh", "#!/bin/sh\n\"\(DaemonHarness.stub)\" \"$@\" &\nwait\n")
        chmod(wrapper, 0o755)
        try harness.stubInstance("wrapped", port: try LlamaServerProbe.freePort(), binary: wrapper)
        try harness.ok(["up", "wrapped", "--wait", "--timeout", "60"])
        let pid = try #require(try harness.status("wrapped")?.pid)
        let group = try #require(FaultProcess.group(of: pid))
        // The shell and the server it forked.
        #expect(FaultProcess.members(of: group).count >= 2, "\(FaultProcess.members(of: group))")

        let down = try harness.ok(["down", "wrapped"])
        #expect(down.stdout.contains("wrapped: stopped"), "\(down.stdout)")
        #expect(FaultProcess.members(of: group).isEmpty, "left: \(FaultProcess.members(of: group))")
        #expect(harness.markedProcesses().isEmpty)
        #expect(try harness.status("wrapped")?.state == .stopped)
    }

    // Failure: `up` reports ready an instance whose port its orphan holds, or doesn't name the orphan and the cure.
    @Test(.timeLimit(.minutes(2))) func anOrphanHoldingThePortIsNamedAndNeverReportedReady() async throws {
        let harness = try DaemonHarness("fault-orphan")
        defer { harness.cleanUp() }
        let port = try LlamaServerProbe.freePort()
        try harness.stubInstance("alpha", port: port)
        // A project with a history, whose daemon is killed after starting a server and before recording it: the
        // orphan's run is the one record lost.
        try harness.ok(["up", "alpha", "--wait", "--timeout", "60"])
        try harness.ok(["down", "alpha"])
        let killed = try #require(harness.daemonPID)
        kill(killed, SIGKILL)
        #expect(try await DaemonHarness.eventually { !DaemonHarness.isAlive(killed) })
        let orphan = try spawnDetached(
            [
                "/usr/bin/setsid", "/bin/sh", "-c", "cd \"$0\" && exec \"$1\" --port \"$2\" 2>/dev/null", harness.root,
                DaemonHarness.stub, "\(port)",
            ],
            environment: ["LLAMA_ORCH_INSTANCE=alpha", "LLAMA_ORCH_RUN_ID=lost-with-its-daemon"])
        defer {
            kill(orphan, SIGKILL)
            var status: Int32 = 0
            waitpid(orphan, &status, 0)
        }
        #expect(try await DaemonHarness.eventually { !PortInspector.canBind(host: "127.0.0.1", port: port) })

        let up = try harness.cli(["up", "alpha", "--wait", "--timeout", "30"])
        #expect(up.stderr.contains("started the daemon"), "\(up.stderr)")
        #expect(up.status != 0, "\(up.stdout)")
        #expect(!up.stdout.contains("healthy") && !up.stderr.contains("healthy after"), "\(up.stdout)")
        #expect(up.stderr.contains("port \(port) is already in use by pid"), "\(up.stderr)")
        #expect(up.stderr.contains("a server of instance alpha"), "\(up.stderr)")
        #expect(up.stderr.contains("'llama-orch down --all'"), "\(up.stderr)")
        let status = try #require(try harness.status("alpha"))
        #expect(status.state != .healthy && status.pid != orphan, "\(status)")
        #expect(DaemonHarness.isAlive(orphan), "up never signals a process it does not supervise")
        let daemon = try harness.ok(["daemon", "status"]).stdout
        #expect(daemon.contains("pid \(orphan)") && daemon.contains("'llama-orch down --all' stops it"), "\(daemon)")

        let down = try harness.ok(["down", "--all"])
        #expect(down.stdout.contains("stopped unrecorded pid"), "\(down.stdout)")
        #expect(try await DaemonHarness.eventually { harness.markedProcesses().isEmpty })
        try harness.ok(["up", "alpha", "--wait", "--timeout", "60"])
    }

    // Failure: an invalid config in `up a b` isn't refused by file and field, changes state, or blocks the valid one.
    @Test(.timeLimit(.minutes(2))) func upWithAnInvalidConfigRefusesItAndStartsTheValidOne() async throws {
        let harness = try DaemonHarness("fault-config")
        defer { harness.cleanUp() }
        try harness.stubInstance("good", port: try LlamaServerProbe.freePort())
        try harness.project.writeConfig(
            "bad",
            """
            {"name": "bad", "model": {"path": "../../models/dense.gguf", "context_size": 256},
             "server": {"port": 80}, "gpu": {"backend": "cpu"}, "binary": {"path": "\(DaemonHarness.stub)"}}
            """)
        let up = try harness.cli(["up", "bad", "good", "--wait", "--timeout", "60"])
        #expect(up.status == 65, "\(up.stdout) \(up.stderr)")
        #expect(up.stderr.contains("instances/bad/config.json"), "\(up.stderr)")
        #expect(up.stderr.contains("server.port"), "\(up.stderr)")
        #expect(up.stdout.contains("good: started"), "\(up.stdout)")
        #expect(up.stdout.contains("good: healthy after"), "\(up.stdout)")

        #expect(try harness.status("good")?.state == .healthy)
        #expect(try harness.status("bad")?.state == .invalid)
        let store = try harness.store()
        #expect(try store.desiredStates()["bad"] == nil)
        #expect(try store.runs(of: "bad").isEmpty)
        #expect(try store.desiredStates()["good"] == .running)
        let instances = Set(harness.markedProcesses().compactMap(FaultProcess.instance(of:)))
        #expect(instances == ["good"])
    }
}
