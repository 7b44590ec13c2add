import ControlAPI
import Foundation
import Host
import OrchestratorCore
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct DaemonEdgeTests {
    @Test func upWaitReportsAFailureWithTheServersLastLines() async throws {
        let harness = try DaemonHarness("daemon-fail")
        defer { harness.cleanUp() }
        try harness.stubInstance(
            // Still loading (503) when it crashes, so no probe can find it healthy first, however busy the machine.
            "crashy", port: try LlamaServerProbe.freePort(), args: ["--load-time", "30", "--crash-after", "0.5"],
            restart: #"{"type": "never"}"#)
        // A server's last words may hold bytes that aren't UTF-8 (a token cut short): shown, not dropped.
        try harness.project.write(
            "logs/crashy/stderr.log", bytes: Array("from an earlier run \u{1F600}".utf8).dropLast(2) + [10])
        let up = try harness.cli(["up", "crashy", "--wait", "--timeout", "30"])
        #expect(up.status == 1, "\(up.stdout) \(up.stderr)")
        #expect(up.stderr.contains("crashy: stopped") || up.stderr.contains("crashy: failed"), "\(up.stderr)")
        #expect(up.stderr.contains("last lines of \(harness.root)/logs/crashy/stderr.log:"), "\(up.stderr)")
        #expect(up.stderr.contains("stub-llama-server: crashing as asked"), "the end of stderr.log: \(up.stderr)")
        #expect(up.stderr.contains("from an earlier run \u{FFFD}"), "\(up.stderr)")
        #expect(harness.markedProcesses().isEmpty)
    }

    @Test func restartStartsANewServerAndDownAllStopsUnrecordedProcesses() async throws {
        let harness = try DaemonHarness("daemon-ghost")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort(), args: ["--load-time", "1"])
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        let first = try #require(try harness.ps().first { $0.name == "alpha" }?.pid)
        let restarted = try harness.ok(["restart", "alpha"])
        #expect(restarted.stdout.contains("alpha: restarted"), "\(restarted.stdout)")
        let restartedPID = try #require(try harness.ps().first { $0.name == "alpha" }?.pid)
        #expect(restartedPID != first)
        #expect(!DaemonHarness.isAlive(first))
        // With --wait, as up --wait: back only once the new server is healthy (the stub loads for a second).
        let waited = try harness.ok(["restart", "alpha", "--wait", "--timeout", "30"])
        #expect(waited.stdout.contains("alpha: healthy after"), "\(waited.stdout)")
        let second = try #require(try harness.ps().first { $0.name == "alpha" })
        #expect(second.state == .healthy && second.pid != restartedPID, "\(second)")

        // A marked server of this root that no run records (a daemon that died between spawn and record).
        try harness.ok(["daemon", "stop", "--keep-instances"])
        let ghostPort = try LlamaServerProbe.freePort()
        let ghost = try spawnDetached(
            [
                "/usr/bin/setsid", "/bin/sh", "-c", "cd \"$0\" && exec \"$1\" --port \"$2\"", harness.root,
                DaemonHarness.stub, "\(ghostPort)",
            ],
            environment: ["LLAMA_ORCH_INSTANCE=ghost", "LLAMA_ORCH_RUN_ID=not-recorded"])
        #expect(try await DaemonHarness.eventually { harness.markedProcesses().count == 2 })
        try harness.ok(["daemon", "start"])
        let status = try harness.ok(["daemon", "status"]).stdout
        #expect(status.contains("carries instance ghost's marker but no run records it"), "\(status)")
        #expect(try harness.ps().first { $0.name == "alpha" }?.pid == second.pid, "alpha re-adopted")
        let down = try harness.ok(["down", "--all"])
        #expect(down.stdout.contains("ghost: stopped: stopped unrecorded pid"), "\(down.stdout)")
        #expect(try await DaemonHarness.eventually { harness.markedProcesses().isEmpty })
        var exitStatus: Int32 = 0
        waitpid(ghost, &exitStatus, 0)
    }

    @Test func healthWatchOfAllInstancesReportsOneThatIsStopped() async throws {
        let harness = try DaemonHarness("daemon-watch")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.stubInstance("beta", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "beta", "--wait", "--timeout", "30"])
        let output = harness.root + "/watch.out"
        try #require(FileManager.default.createFile(atPath: output, contents: nil))
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: CommandRunner.product("llama-orch"))
        watcher.arguments = ["health", "--all", "--watch", "--root", harness.root]
        watcher.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        try watcher.run()
        defer {
            watcher.terminate()
            watcher.waitUntilExit()
        }
        func watched() -> String { harness.project.read("watch.out") ?? "" }
        #expect(try await DaemonHarness.eventually(.seconds(10)) { watched().contains("beta: healthy") })
        try harness.ok(["down", "alpha"])
        #expect(
            try await DaemonHarness.eventually(.seconds(10)) { watched().contains("alpha: stopped") }, "\(watched())")
        // Reported once, not at every poll.
        try await Task.sleep(for: .milliseconds(2500))
        #expect(watched().components(separatedBy: "alpha: stopped").count == 2, "\(watched())")
        // And back again when it is brought up.
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        #expect(
            try await DaemonHarness.eventually(.seconds(10)) {
                watched().components(separatedBy: "alpha: healthy").count == 3
            }, "\(watched())")
    }

    @Test func logsFollowAcrossRotation() async throws {
        let harness = try DaemonHarness("daemon-logs")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        // A half character (a token cut short) in the log: still printed, and still followed from the end.
        let log = try harness.project.write(
            "logs/alpha/stdout.log", bytes: [0xE2, 0x82, 0x0A] + Array("one\ntwo\nthree\n".utf8))
        let last = try harness.ok(["logs", "alpha", "-n", "2"])
        #expect(last.stdout == "two\nthree\n")
        let all = try harness.ok(["logs", "alpha", "-n", "10"])
        #expect(all.stdout.hasPrefix("\u{FFFD}") && all.stdout.hasSuffix("\none\ntwo\nthree\n"), "\(all.stdout)")
        let output = harness.root + "/follow.out"
        try #require(FileManager.default.createFile(atPath: output, contents: nil))
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: CommandRunner.product("llama-orch"))
        follower.arguments = ["logs", "alpha", "-f", "-n", "1", "--root", harness.root]
        follower.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        try follower.run()
        defer {
            follower.terminate()
            follower.waitUntilExit()
        }
        func append(_ text: String) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            try handle.seekToEnd()
            handle.write(Data(text.utf8))
            try handle.close()
        }
        func followed() -> String { harness.project.read("follow.out") ?? "" }
        // The last line printed: the follower reads on from the end it found.
        #expect(try await DaemonHarness.eventually { followed().contains("three") }, "\(followed())")
        try append("four\n")
        #expect(try await DaemonHarness.eventually { followed().contains("four") })
        // Copy-truncate rotation: the file starts over; the follower reads it from its start.
        try "".write(toFile: log, atomically: false, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(400))
        try append("five\n")
        #expect(try await DaemonHarness.eventually { followed().contains("five") })
        #expect(followed() == "three\nfour\nfive\n", "\(followed())")
    }
}
