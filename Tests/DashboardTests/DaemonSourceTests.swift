import ControlAPI
import OrchestratorCore
import Testing

@testable import Dashboard

/// The daemon's answer laid over the read-only snapshot, and the lines the daemon-backed actions show.
struct DaemonSourceTests {
    static let info = DaemonInfo(
        pid: 812, root: "/p", startedAt: SnapshotFixtures.now - 100, version: "test", supervised: 3, warnings: [])

    @Test func theDaemonsStatesReplaceTheRecordedOnes() throws {
        let base = SnapshotFixtures.busy()
        let statuses = [
            InstanceStatus(
                name: "chat", state: .healthy, desiredState: .running, health: .healthy, pid: 5555, port: 8001,
                backend: "vulkan", devices: "Vulkan0", model: "/models/llama.gguf",
                startedAt: SnapshotFixtures.now - 60, restarts: 1),
            InstanceStatus(
                name: "code", state: .stopped, desiredState: .stopped, health: .notRunning, port: 8002,
                model: "/models/qwen.gguf"),
            InstanceStatus(
                name: "new", state: .queued, desiredState: .running, health: .starting, port: 8009,
                backend: "cpu", devices: "Vulkan0,Vulkan1", model: "m.gguf"),
            InstanceStatus(name: "broken", state: .invalid, desiredState: .stopped, health: .notRunning),
        ]
        let snapshot = DaemonSnapshotSource.merge(base, info: Self.info, statuses: statuses)
        #expect(snapshot.daemon == DaemonStatus(running: true, summary: "running (pid 812)", banner: nil))
        #expect(snapshot.instances.map(\.name) == ["chat", "code", "new", "broken"])

        let chat = snapshot.instances[0]
        #expect(chat.state == .healthy && chat.health == "ok")
        #expect(chat.pid == 5555 && chat.port == 8001)
        #expect(chat.startedAt == SnapshotFixtures.now - 60)
        #expect(chat.restarts == 1)
        #expect(chat.model == "llama.gguf")
        #expect(chat.contextSize == 8192, "kept from the config")
        #expect(chat.placement != nil, "kept from the recorded run")

        let code = snapshot.instances[1]
        #expect(code.state == .stopped && code.health == "-")
        #expect(code.pid == nil && code.startedAt == nil && code.estimatedBytes == nil)
        #expect(code.desired == .stopped)

        let new = snapshot.instances[2]
        #expect(new.state == .starting && new.health == "queued")
        #expect(new.backend == "cpu" && new.device == "Vulkan0+Vulkan1")

        let broken = snapshot.instances[3]
        #expect(broken.state == .failed && broken.model.hasPrefix("config invalid"))

        // code has no server any more: it holds nothing.
        let holders = Set(snapshot.devices.flatMap { $0.holdings.map(\.instance) })
        #expect(!holders.contains("code"))
        #expect(holders.isSubset(of: ["chat"]))
        #expect(snapshot.events == base.events)
    }

    @Test func failingHealthKeepsTheProbeCount() {
        let base = InstanceRow(name: "flaky", state: .unhealthy, health: "2 failed", pid: 9)
        let status = InstanceStatus(
            name: "flaky", state: .unhealthy, desiredState: .running, health: .unhealthy, pid: 9)
        #expect(DaemonSnapshotSource.row(status, base: base).health == "2 failed")
        #expect(DaemonSnapshotSource.row(status, base: nil).health == "failing")
        let loading = InstanceStatus(
            name: "x", state: .loading, desiredState: .running, health: .starting, pid: 10)
        #expect(DaemonSnapshotSource.row(loading, base: nil).health == "loading")
    }

    @Test func actionsShowTheDaemonsAnswerAndItsRefusals() async throws {
        let done = InstancesResponse(outcomes: [
            InstanceOutcome(name: "chat", result: .restarted, message: "started pid 7 on port 8001")
        ])
        #expect(
            try DaemonInstanceActions.line(done, action: "restart") == "chat: restarted: started pid 7 on port 8001")
        let refused = InstancesResponse(outcomes: [
            InstanceOutcome(name: "big", result: .failed, message: "does not fit", exitCode: 70)
        ])
        #expect(throws: DaemonInstanceActions.Refused.self) {
            try DaemonInstanceActions.line(refused, action: "up")
        }
        let action = DaemonInstanceActions(client: ControlClient(socketPath: "/nonexistent/daemon.sock"))
        let failed = await action.perform(.restart("chat"))
        #expect(failed?.contains("the daemon does not answer") == true, "\(failed ?? "nil")")
    }
}
