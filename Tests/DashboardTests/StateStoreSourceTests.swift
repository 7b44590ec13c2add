import Foundation
import OrchestratorCore
import StateStore
import TestSupport
import Testing

@testable import Dashboard

@Suite(.serialized) struct StateStoreSourceTests {
    static let devices = [
        Device(
            id: "static:GPU-A", backend: "static", llamaName: "GPU-A", description: "GPU-A", kind: .discrete,
            totalBytes: 24 << 30, freeBytes: 12 << 30),
        Device(
            id: "host", backend: "static", llamaName: nil, description: "host", kind: .cpu, totalBytes: 64 << 30,
            freeBytes: 32 << 30),
    ]

    func source(_ project: RecordedProject) -> StateStoreSnapshotSource {
        let root = ProjectRoot(path: project.project.root)
        let validator = ConfigValidator(knownNames: KnownNames(backends: ["static", "cpu"]))
        return StateStoreSnapshotSource(
            root: root, configs: { validator.validateAll(in: root) }, devices: { Self.devices })
    }

    @Test func theStoreAndTheLiveProcessesMakeTheRows() async throws {
        let project = try RecordedProject("dash-source")
        defer { project.remove() }
        try project.record()
        let snapshot = try await source(project).snapshot(logTailOf: "alpha", logLines: 50)

        #expect(!snapshot.daemon.running)
        #expect(snapshot.daemon.banner == "daemon not running: read-only view from state/state.sqlite")
        #expect(snapshot.instances.map(\.name) == ["alpha", "beta", "delta", "gamma"])
        let rows = Dictionary(uniqueKeysWithValues: snapshot.instances.map { ($0.name, $0) })
        let alpha = try #require(rows["alpha"])
        #expect(alpha.state == .healthy)
        #expect(alpha.health == "ok")
        #expect(alpha.pid == project.servers["alpha"])
        #expect(alpha.port == project.ports["alpha"])
        #expect(alpha.backend == "static")
        #expect(alpha.device == "GPU-A")
        #expect(alpha.model == "alpha.gguf")
        #expect(alpha.contextSize == 4096)
        #expect(alpha.slots == 2)
        #expect(alpha.estimatedBytes == 6 << 30 + 1 << 29)
        #expect(alpha.reportedBytes == 1792 << 20, "model + KV + compute buffers, as stored with the run")
        #expect(alpha.startedAt == RecordedProject.now - 600)
        #expect(alpha.desired == .running)

        let beta = try #require(rows["beta"])
        #expect(beta.state == .loading)
        #expect(beta.health == "1 failed")

        let gamma = try #require(rows["gamma"])
        #expect(gamma.state == .failed)
        #expect(gamma.health == "gone")
        #expect(gamma.pid == nil)
        #expect(gamma.restarts == 3)
        #expect(gamma.isCrashLooping)

        let delta = try #require(rows["delta"])
        #expect(delta.state == .stopped)
        #expect(delta.command.isEmpty)

        let gpu = try #require(snapshot.devices.first { $0.name == "GPU-A" })
        // alpha counts at what it measured (1792 MiB on GPU-A, nothing in host memory), beta at its estimate.
        #expect(
            gpu.holdings == [.init(instance: "alpha", bytes: 1792 << 20), .init(instance: "beta", bytes: 3 << 30)])
        #expect(gpu.otherBytes == 12 << 30 - 1792 << 20 - 3 << 30)
        let host = try #require(snapshot.devices.first { $0.name == "host" })
        #expect(host.heldBytes == 1 << 29)

        #expect(snapshot.events["alpha"]?.last?.message == "loading → healthy: test")
        let tail = try #require(snapshot.logTail)
        #expect(tail.instance == "alpha")
        #expect(tail.lines.first == "build: 4242 (stub) with cc")
    }

    @Test func theRoutersRequestsOfTheLastMinuteAreEachRowsTraffic() async throws {
        let project = try RecordedProject("dash-traffic")
        defer { project.remove() }
        try project.record()
        let now = Date().timeIntervalSince1970
        let (store, _) = try StateStore.open(path: project.project.root + "/state/state.sqlite")
        try store.appendRouterRequests(
            [
                // Two minutes ago: outside the window.
                RouterRequestRecord(time: now - 120, model: "alpha", path: "/v1/completions", status: 200, duration: 1),
                RouterRequestRecord(
                    time: now - 30, model: "alpha", path: "/v1/chat/completions", status: 200, promptTokens: 4,
                    completionTokens: 90, duration: 2),
                RouterRequestRecord(
                    time: now - 5, model: "alpha", path: "/v1/chat/completions", status: 502, duration: 0.1),
            ])
        let snapshot = try await source(project).snapshot(logTailOf: nil, logLines: 0)
        let rows = Dictionary(uniqueKeysWithValues: snapshot.instances.map { ($0.name, $0) })
        let traffic = try #require(rows["alpha"]?.traffic)
        #expect(traffic.requests == 2 && traffic.errors == 1 && traffic.completionTokens == 90, "\(traffic)")
        #expect(abs(traffic.window - StateStoreSnapshotSource.trafficWindow) < 1)
        #expect(rows["beta"]?.traffic == nil)
    }

    @Test func aProjectWithoutAStateStoreShowsItsConfigsStoppedAndCreatesNothing() async throws {
        let project = try TemporaryProject("dash-empty")
        defer { project.remove() }
        try project.writeFakeModel()
        try project.writeConfig(
            "solo", #"{"name": "solo", "model": {"path": "../../models/tiny.gguf"}, "server": {"port": 8123}}"#)
        let root = ProjectRoot(path: project.root)
        let validator = ConfigValidator(knownNames: KnownNames(backends: ["cpu"]))
        let snapshot = try await StateStoreSnapshotSource(
            root: root, configs: { validator.validateAll(in: root) }, devices: { [] }
        ).snapshot(logTailOf: nil, logLines: 0)
        #expect(snapshot.instances.map(\.name) == ["solo"])
        #expect(snapshot.instances.first?.state == .stopped)
        #expect(snapshot.instances.first?.port == 8123)
        #expect(!project.exists("state/state.sqlite"))
    }

    @Test func onceAndJSONPrintOneSnapshotFromTheCommandLine() throws {
        let project = try RecordedProject("dash-once")
        defer { project.remove() }
        try project.record()
        let text = try CommandRunner.llamaOrch(
            ["dashboard", "--once", "--devices-file", "devices.json"], in: project.project.root,
            environment: ["COLUMNS": "120"])
        #expect(text.status == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("llama-orch · daemon not running") == true, "\(text.stdout)")
        #expect(lines.contains(" daemon not running: read-only view from state/state.sqlite"))
        #expect(lines.contains("4 instances: 1 failed, 1 loading, 1 healthy, 1 stopped"), "\(text.stdout)")
        #expect(
            lines.contains {
                $0.hasPrefix("GPU-A    [") && $0.contains("12G/24G free 12G · 1 alpha 1.8G · 2 beta 3.0G")
            })
        let alpha = try #require(lines.first { $0.hasPrefix("alpha") })
        #expect(alpha.contains("healthy"))
        #expect(alpha.contains("static:GPU-A"))
        #expect(alpha.contains("6.5G/1.8G"))
        #expect(alpha.contains("10m0"))
        let gamma = try #require(lines.first { $0.hasPrefix("gamma") })
        #expect(gamma.contains("failed"))
        #expect(gamma.contains("gone"))
        #expect(gamma.hasSuffix(" 3"))
        #expect(!text.stdout.contains("\u{1B}"), "no colour when standard output is not a terminal")
        #expect(lines.allSatisfy { $0.count <= 120 })

        let json = try CommandRunner.llamaOrch(
            ["dashboard", "--json", "--devices-file", "devices.json"], in: project.project.root)
        #expect(json.status == 0, "\(json.stderr)")
        let snapshot = try JSONDecoder.cliOutput.decode(DashboardSnapshot.self, from: Data(json.stdout.utf8))
        #expect(snapshot.instances.map(\.state) == [.healthy, .loading, .stopped, .failed])
        #expect(snapshot.instances.first?.pid == project.servers["alpha"])
        #expect(snapshot.devices.map(\.name) == ["GPU-A", "host"])
    }

    @Test func stateEventsAreReadFromDetailsOrTheMessage() {
        let withDetails = InstanceEvent(
            time: 0, instance: "x", kind: "state", message: "?", details: ["from": "starting", "to": "loading"])
        #expect(StateStoreSnapshotSource.stateAfter(withDetails) == .loading)
        let fromMessage = InstanceEvent(
            time: 0, instance: "x", kind: "state", message: "loading → healthy: probe passed")
        #expect(StateStoreSnapshotSource.stateAfter(fromMessage) == .healthy)
    }
}
