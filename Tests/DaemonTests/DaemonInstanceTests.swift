import ControlAPI
import Foundation
import OrchestratorCore
import StateStore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct DaemonInstanceTests {
    @Test func upWaitPsDownLeavesNothing() async throws {
        let harness = try DaemonHarness("daemon-up")
        defer { harness.cleanUp() }
        let port = try LlamaServerProbe.freePort()
        try harness.stubInstance("alpha", port: port, args: ["--load-time", "0.5", "--log-interval", "0.1"])
        let up = try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        #expect(up.stderr.contains("started the daemon (pid"), "\(up.stderr)")
        #expect(up.stdout.contains("alpha: healthy after"), "\(up.stdout)")
        let listed = try #require(try harness.ps().first { $0.name == "alpha" })
        #expect(listed.state == .healthy)
        #expect(listed.desiredState == .running)
        #expect(listed.port == port)
        #expect(listed.backend == "cpu" && listed.devices == "host")
        let pid = try #require(listed.pid)
        #expect(DaemonHarness.isAlive(pid))
        #expect(try await LlamaServerProbe.healthStatus(port: port) == 200)
        let table = try harness.ok(["ps"]).stdout
        #expect(table.contains("alpha") && table.contains("cpu:host") && table.contains("dense.gguf"), "\(table)")
        // `ps --json` prints the daemon's answer as it came: exactly what encoding it again would print.
        let raw = try harness.ok(["ps", "--json"]).stdout
        let decoded = try JSONDecoder.snakeCase.decode([InstanceStatus].self, from: Data(raw.utf8))
        #expect(decoded.map(\.name) == ["alpha"])
        #expect(String(decoding: try JSONEncoder.control.encode(decoded), as: UTF8.self) + "\n" == raw)
        let health = try harness.cli(["health", "alpha"])
        #expect(health.status == 0 && health.stdout.contains("alpha: healthy"), "\(health.stdout)")
        let logs = try harness.ok(["logs", "alpha", "-n", "2"]).stdout
        #expect(logs.contains("stdout line"), "\(logs)")
        // The daemon's private mask (for its socket) is not the servers': their logs follow the user's mask.
        let mask = umask(0o022)
        umask(mask)
        let mode =
            try FileManager.default.attributesOfItem(atPath: harness.root + "/logs/alpha/stdout.log")[
                .posixPermissions] as? Int
        #expect(mode == 0o644 & ~Int(mask), "mode \(String(mode ?? 0, radix: 8)) with umask \(String(mask, radix: 8))")
        let describe = try harness.ok(["describe", "alpha"]).stdout
        #expect(describe.contains("command: \(DaemonHarness.stub)"), "\(describe)")
        #expect(describe.contains("health history:"))
        // The JSON form: snake_case keys, the placement and event details as objects, no environment.
        let described = try harness.ok(["describe", "alpha", "--json"]).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(described.utf8)) as? [String: Any])
        #expect(object["config_issues"] is [Any] && object["configIssues"] == nil)
        let run = try #require(object["run"] as? [String: Any])
        #expect(run["run_id"] is String && run["pid"] as? Int == Int(pid) && run["open"] as? Bool == true)
        #expect(run["environment"] == nil && run["placementJSON"] == nil, "\(run.keys.sorted())")
        let placement = try #require(object["placement"] as? [String: Any], "\(described)")
        #expect(placement["instance"] as? String == "alpha" && placement["mode"] is String, "\(placement)")
        let events = try #require(object["events"] as? [[String: Any]])
        let started = try #require(events.last { $0["kind"] as? String == "started" })
        #expect((started["details"] as? [String: Any])?["pid"] as? String == "\(pid)", "\(started)")
        #expect(!described.contains("detailsJSON") && !described.contains("placementJSON"))

        let down = try harness.ok(["down", "alpha"])
        #expect(down.stdout.contains("alpha: stopped"), "\(down.stdout)")
        #expect(!DaemonHarness.isAlive(pid))
        #expect(harness.markedProcesses().isEmpty)
        let after = try #require(try harness.ps().first { $0.name == "alpha" })
        #expect(after.state == .stopped && after.desiredState == .stopped && after.pid == nil)
        #expect(try harness.ok(["ps"]).stdout.split(separator: "\n").count == 1, "only the header")
    }

    @Test func placementImpossibleExits70WithTheReason() async throws {
        let harness = try DaemonHarness("daemon-nofit")
        defer { harness.cleanUp() }
        let devices = try harness.project.write(
            "devices.json", #"{"devices": [{"name": "host", "kind": "cpu", "total_mib": 1}]}"#)
        try harness.stubInstance(
            "big", port: try LlamaServerProbe.freePort(), extra: "")
        // The static driver reads the inventory from the daemon's environment.
        let config = try #require(harness.project.read("instances/big/config.json"))
        try harness.project.writeConfig(
            "big", config.replacingOccurrences(of: #""backend": "cpu""#, with: #""backend": "static""#))
        let up = try harness.cli(["up", "big"], environment: ["LLAMA_ORCH_DEVICES": devices])
        #expect(up.status == 70, "\(up.stdout) \(up.stderr)")
        #expect(up.stderr.contains("does not fit"), "\(up.stderr)")
        #expect(harness.markedProcesses().isEmpty)
    }

    /// Two instances on one port: `up` refuses either as `config validate` and `plan` do (it started the first, and
    /// the second then blamed a server "no longer supervised").
    @Test func upRefusesAnInstanceWhosePortAnotherInstanceHas() async throws {
        let harness = try DaemonHarness("daemon-same-port")
        defer { harness.cleanUp() }
        let port = try LlamaServerProbe.freePort()
        try harness.stubInstance("samea", port: port)
        try harness.stubInstance("sameb", port: port)
        let up = try harness.cli(["up", "samea"])
        #expect(up.status == 65, "\(up.stdout) \(up.stderr)")
        #expect(up.stderr.contains("port \(port) is also used by instance sameb"), "\(up.stderr)")
        #expect(harness.markedProcesses().isEmpty)
    }

    @Test func aDownWhileTheUpIsStillPlacingWins() async throws {
        let harness = try DaemonHarness("daemon-down-placing")
        defer { harness.cleanUp() }
        // A server binary whose `--help` (asked once, while placing) takes 4 s and leaves a mark when it begins:
        // the `up` is placing meanwhile.
        let placing = harness.root + "/placing"
        let slow = try harness.project.write(
            "bin/slow-server",
            """
            #!/bin/sh
            case "$*" in *--help*) touch "\(placing)"; sleep 4 ;; esac
            exec \(DaemonHarness.stub) "$@"
            """)
        chmod(slow, 0o755)
        let port = try LlamaServerProbe.freePort()
        try harness.stubInstance("alpha", port: port)
        let config = try #require(harness.project.read("instances/alpha/config.json"))
        try harness.project.writeConfig(
            "alpha", config.replacingOccurrences(of: DaemonHarness.stub, with: slow))
        try harness.ok(["daemon", "start"])
        let up = Task.detached { try harness.cli(["up", "alpha"]) }
        #expect(try await DaemonHarness.eventually { FileManager.default.fileExists(atPath: placing) })
        let down = try harness.ok(["down", "alpha"])
        #expect(down.stdout.contains("alpha:"), "\(down.stdout)")
        let upped = try await up.value
        #expect(upped.stdout.contains("not started: stopped while being placed"), "\(upped.stdout) \(upped.stderr)")
        try await Task.sleep(for: .milliseconds(500))
        let listed = try harness.ps().first { $0.name == "alpha" }
        #expect(listed?.state == .stopped && listed?.desiredState == .stopped, "\(String(describing: listed))")
        #expect(harness.markedProcesses().isEmpty)
        #expect(try await LlamaServerProbe.healthStatus(port: port) == 0, "nothing answers on alpha's port")
    }

    @Test func upAllStartsOneAtATimePerDevice() async throws {
        let harness = try DaemonHarness("daemon-boot")
        defer { harness.cleanUp() }
        for name in ["one", "two"] {
            try harness.stubInstance(name, port: try LlamaServerProbe.freePort(), args: ["--load-time", "1"])
        }
        let up = try harness.ok(["up", "--all", "--wait", "--timeout", "30"])
        #expect(up.stdout.contains("two: queued"), "\(up.stdout)")
        let events = try harness.store().events(limit: 200)
        let firstHealthy = try #require(
            events.first { $0.instance == "one" && $0.kind == "state" && $0.message.contains("→ healthy") })
        let secondStarted = try #require(events.first { $0.instance == "two" && $0.kind == "started" })
        #expect(secondStarted.time >= firstHealthy.time, "two started before one was healthy")
        try harness.ok(["down", "--all"])
        #expect(harness.markedProcesses().isEmpty)
    }

    @Test func aStartPastItsStartPeriodNoLongerHoldsTheNextOnItsDevice() async throws {
        let harness = try DaemonHarness("daemon-boot-period")
        defer { harness.cleanUp() }
        // The first never gets healthy (it loads for a minute); its start period is 1 s.
        try harness.stubInstance(
            "a-slow", port: try LlamaServerProbe.freePort(), args: ["--load-time", "60"], startPeriod: 1)
        try harness.stubInstance("b-next", port: try LlamaServerProbe.freePort(), args: [])
        let up = try harness.ok(["up", "--all"])
        #expect(up.stdout.contains("b-next: queued"), "\(up.stdout)")
        #expect(
            try await DaemonHarness.eventually(.seconds(30)) {
                try harness.ps().first { $0.name == "b-next" }?.state == .healthy
            })
        let events = try harness.store().events(limit: 200)
        let slow = try #require(events.first { $0.instance == "a-slow" && $0.kind == "started" })
        let next = try #require(events.first { $0.instance == "b-next" && $0.kind == "started" })
        let waited = next.time - slow.time
        // After a-slow's 1 s start period, well before its 60 s of loading end.
        #expect(waited >= 0.9 && waited < 20, "b-next started \(waited) s after a-slow")
        #expect(!events.contains { $0.instance == "a-slow" && $0.kind == "state" && $0.message.contains("→ healthy") })
        try harness.ok(["down", "--all"])
        #expect(harness.markedProcesses().isEmpty)
    }

    @Test func killedDaemonReadoptsTheSameServersWithoutRespawning() async throws {
        let harness = try DaemonHarness("daemon-kill")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        let pid = try #require(try harness.ps().first { $0.name == "alpha" }?.pid)
        let daemon = try #require(harness.daemonPID)
        kill(daemon, SIGKILL)
        #expect(try await DaemonHarness.eventually { !DaemonHarness.isAlive(daemon) })
        let log = harness.root + "/logs/alpha/stdout.log"
        let before = try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int ?? 0

        let restarted = try harness.ok(["daemon", "start"])
        #expect(restarted.stdout.contains("started the daemon"))
        let adopted = try #require(try harness.ps().first { $0.name == "alpha" })
        #expect(adopted.pid == pid, "the same server, re-adopted")
        #expect(
            try await DaemonHarness.eventually { try harness.ps().first { $0.name == "alpha" }?.state == .healthy })
        func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0 }
        #expect(try await DaemonHarness.eventually { size() > before }, "the server keeps writing its log")
        let runs = try harness.store().runs(of: "alpha")
        #expect(runs.count == 1, "no second server was started")
        #expect(try harness.store().events(of: "alpha").contains { $0.kind == "adopted" })
        #expect(harness.markedProcesses() == [pid])
        try harness.ok(["down", "alpha"])
        #expect(harness.markedProcesses().isEmpty)
    }

    @Test func twentyCommandsAtOnceLeaveAConsistentState() async throws {
        let harness = try DaemonHarness("daemon-many")
        defer { harness.cleanUp() }
        for name in ["one", "two"] {
            try harness.stubInstance(name, port: try LlamaServerProbe.freePort(), args: [])
        }
        // No daemon yet: the first commands race to start it; one wins, all use it.
        var commands: [[String]] = []
        for index in 0..<20 {
            switch index % 5 {
            case 0: commands.append(["up", "one"])
            case 1: commands.append(["ps", "--json"])
            case 2: commands.append(["down", "one"])
            case 3: commands.append(["up", "two"])
            default: commands.append(["ps", "-a", "--json"])
            }
        }
        let results = harness.concurrently(commands)
        for (command, result) in zip(commands, results) {
            let result = try #require(result, "\(command) did not run")
            #expect(result.status == 0, "\(command) exited \(result.status): \(result.stderr)")
            if command.first == "ps" {
                #expect(
                    (try? JSONDecoder.snakeCase.decode([InstanceStatus].self, from: Data(result.stdout.utf8))) != nil)
            }
        }
        let daemons = results.compactMap { $0?.stderr }.filter { $0.contains("started the daemon") }
        #expect(daemons.count <= 1, "one daemon started: \(daemons)")
        // Whatever order they ran in, each instance ends as its desired state says.
        func settled(_ status: InstanceStatus) -> Bool {
            status.desiredState == .running
                ? [.starting, .loading, .healthy].contains(status.state)
                    && status.pid.map(DaemonHarness.isAlive) == true
                : status.state == .stopped && status.pid == nil
        }
        _ = try await DaemonHarness.eventually { try harness.ps().allSatisfy(settled) }
        for status in try harness.ps() {
            if status.desiredState == .running {
                #expect([.starting, .loading, .healthy].contains(status.state), "\(status)")
                #expect(status.pid.map(DaemonHarness.isAlive) == true, "\(status)")
            } else {
                #expect(status.state == .stopped && status.pid == nil, "\(status)")
            }
        }
        #expect(try harness.ps().first { $0.name == "two" }?.desiredState == .running)
        try harness.ok(["down", "--all"])
        #expect(harness.markedProcesses().isEmpty)
    }

    @Test func aServerThatDiedWithoutADaemonIsClosedAndBroughtBack() async throws {
        let harness = try DaemonHarness("daemon-stale")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        let pid = try #require(try harness.ps().first { $0.name == "alpha" }?.pid)
        try harness.ok(["daemon", "stop", "--keep-instances"])
        kill(pid, SIGKILL)
        #expect(try await DaemonHarness.eventually { !DaemonHarness.isAlive(pid) })
        try harness.ok(["daemon", "start"])
        let store = try harness.store()
        #expect(try store.events(of: "alpha").contains { $0.kind == "run-closed" })
        // Its desired state is still running: the daemon starts a new server.
        #expect(
            try await DaemonHarness.eventually {
                let status = try harness.ps().first { $0.name == "alpha" }
                return status?.state == .healthy && status?.pid != pid
            })
        let runs = try store.runs(of: "alpha")
        #expect(runs.count == 2 && runs.filter(\.isOpen).count == 1)
        try harness.ok(["down", "--all"])
        #expect(harness.markedProcesses().isEmpty)
    }
}
