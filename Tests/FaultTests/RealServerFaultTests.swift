import ControlAPI
import Foundation
import OrchestratorCore
import StateStore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

// Faults of the real llama-server (LLAMA_SERVER, else the build script's cache) on the tiny `dense` model.
extension FaultTests {
    /// Writes an instance of the real server: probes of `/health` as given, `restart` as the policy.
    func realInstance(
        _ harness: DaemonHarness, _ name: String, port: Int, interval: Double, timeout: Double, retries: Int,
        restart: String
    ) throws {
        try harness.project.writeConfig(
            name,
            """
            {"name": "\(name)", "model": {"path": "../../models/dense.gguf", "context_size": 256},
             "server": {"port": \(port)}, "gpu": {"backend": "cpu"},
             "healthcheck": {"interval": \(interval), "timeout": \(timeout), "retries": \(retries), "start_period": 60},
             "restart_policy": \(restart)}
            """)
    }

    // Failure: a frozen (SIGSTOP) llama-server is not replaced within the probe bound, or ps and describe hide why.
    @Test(.timeLimit(.minutes(3))) func aStoppedRealServerIsReplacedWithinTheProbeBound() async throws {
        let environment = ["LLAMA_SERVER": try LlamaServerProbe.binary()]
        let harness = try DaemonHarness("fault-sigstop")
        defer { harness.cleanUp() }
        let (interval, timeout, retries, delay) = (0.6, 0.4, 2, 0.2)
        try realInstance(
            harness, "frozen", port: try LlamaServerProbe.freePort(), interval: interval, timeout: timeout,
            retries: retries, restart: #"{"initial_delay": \#(delay), "max_delay": 1, "jitter": 0}"#)
        try harness.ok(["up", "frozen", "--wait", "--timeout", "120"], environment: environment)
        let first = try #require(try harness.status("frozen")?.pid)

        let stoppedAt = epochNow()
        kill(first, SIGSTOP)
        defer { kill(first, SIGKILL) }
        #expect(
            try await DaemonHarness.eventually(.seconds(30)) { try !harness.times("frozen", into: .unhealthy).isEmpty })
        let unhealthyAt = try #require(try harness.times("frozen", into: .unhealthy).first)
        // The last counted probe starts at most `retries` intervals after the stop and times out `timeout` later (the
        // timeout is below the interval: a probe that overran its slot would push the next one a full interval back).
        let bound = interval * Double(retries) + timeout
        #expect(unhealthyAt - stoppedAt <= bound + 1.5, "unhealthy \(unhealthyAt - stoppedAt) s after SIGSTOP")

        #expect(
            try await DaemonHarness.eventually(.seconds(90)) {
                guard let status = try harness.status("frozen") else { return false }
                return status.state == .healthy && status.pid != first
            })
        #expect(!DaemonHarness.isAlive(first), "the stopped server was taken down (SIGTERM, SIGCONT, SIGKILL)")
        // Replaced without waiting out the 30 s stop grace: SIGCONT lets the frozen server act on its SIGTERM.
        let starts = try harness.times("frozen", of: "started")
        try #require(starts.count == 2, "\(starts)")
        #expect(starts[1] - stoppedAt <= bound + delay + 5, "replaced \(starts[1] - stoppedAt) s after SIGSTOP")
        #expect(harness.markedGroups().count == 1)

        // Why, in `ps` (the restart counted) and `describe` (the failed probes and the verdict).
        let listed = try harness.ok(["ps"]).stdout
        let lines = listed.split(separator: "\n").map { $0.split(separator: " ") }
        let column = try #require(lines.first?.firstIndex(of: "RESTARTS"), "\(listed)")
        let row = try #require(lines.first { $0.first == "frozen" }, "\(listed)")
        #expect(row.count > column && row[column] == "1", "RESTARTS 1: \(listed)")
        let described = try harness.ok(["describe", "frozen"]).stdout
        #expect(described.contains("\(retries) probes failed in a row"), "\(described)")
        #expect(described.contains("healthy → unhealthy"), "\(described)")
    }

    // Failure: a crash loop ignores the backoff, runs two servers at once, or never gives up after max_retries.
    @Test(.timeLimit(.minutes(3))) func aRealServerKilledEightTimesBacksOffThenFails() async throws {
        let environment = ["LLAMA_SERVER": try LlamaServerProbe.binary()]
        let harness = try DaemonHarness("fault-sigkill")
        defer { harness.cleanUp() }
        let (initial, multiplier, maxDelay, maxRetries) = (0.2, 1.5, 1.0, 7)
        try realInstance(
            harness, "crashy", port: try LlamaServerProbe.freePort(), interval: 0.2, timeout: 1, retries: 3,
            restart:
                #"{"type": "on-failure", "max_retries": \#(maxRetries), "initial_delay": \#(initial), "#
                + #""backoff_multiplier": \#(multiplier), "max_delay": \#(maxDelay), "jitter": 0}"#)
        try harness.ok(["up", "crashy", "--wait", "--timeout", "120"], environment: environment)

        // Watches /proc the whole time: never two servers of the instance at once.
        let most = MostServers()
        let watcher = Task.detached {
            while !Task.isCancelled {
                most.note(harness.markedGroups().count)
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { watcher.cancel() }
        var killed: [Int32] = []
        for _ in 0...maxRetries {
            var pid: Int32?
            #expect(
                try await DaemonHarness.eventually(.seconds(60)) {
                    pid = try harness.status("crashy")?.pid
                    return pid.map { !killed.contains($0) } ?? false
                })
            guard let pid else { break }
            kill(pid, SIGKILL)
            killed.append(pid)
        }
        #expect(killed.count == maxRetries + 1)
        #expect(try await DaemonHarness.eventually(.seconds(30)) { try harness.status("crashy")?.state == .failed })
        watcher.cancel()
        _ = await watcher.value
        let status = try #require(try harness.status("crashy"))
        #expect(status.restarts == maxRetries)
        #expect(status.reason?.contains("gave up after \(maxRetries) restarts") == true, "\(status.reason ?? "")")
        #expect(most.value == 1, "at most one server at a time, saw \(most.value)")
        #expect(harness.markedProcesses().isEmpty)

        // The gap from each exit to the next start is the policy's delay (no jitter), one server after the other.
        let exits = try harness.times("crashy", of: "exited")
        let starts = try harness.times("crashy", of: "started")
        try #require(exits.count == maxRetries + 1 && starts.count == maxRetries + 1, "\(exits) \(starts)")
        for attempt in 1...maxRetries {
            let delay = min(initial * pow(multiplier, Double(attempt - 1)), maxDelay)
            let gap = starts[attempt] - exits[attempt - 1]
            #expect(gap >= delay - 0.02, "restart \(attempt): \(gap) s, the policy says \(delay) s")
            #expect(gap <= delay + 2, "restart \(attempt): \(gap) s, the policy says \(delay) s")
        }
    }
}

/// The largest count seen, from another task.
final class MostServers: @unchecked Sendable {
    private let lock = NSLock()
    private var most = 0

    func note(_ count: Int) {
        lock.lock()
        most = max(most, count)
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return most
    }
}
