import ControlAPI
import Foundation
import OrchestratorCore
import StateStore
import TestSupport
import Testing

/// What real llama-servers allocated, read back by the daemon: the stored figures are the ones the server printed,
/// and later placements count them instead of the estimate. Fails (never skips) when a build is missing.
@Suite(.serialized) struct DaemonMeasurementTests {
    /// An instance of the tiny dense model on a real llama-server.
    func realInstance(
        _ harness: DaemonHarness, _ name: String, binary: String, backend: String, args: [String],
        gpu: String = ""
    ) throws {
        let arguments = args.map { "\"\($0)\"" }.joined(separator: ", ")
        try harness.project.writeConfig(
            name,
            """
            {"name": "\(name)", "model": {"path": "../../models/dense.gguf", "context_size": 256},
             "server": {"port": \(try LlamaServerProbe.freePort())}, "gpu": {"backend": "\(backend)"\(gpu)},
             "binary": {"path": "\(binary)"},
             "healthcheck": {"interval": 0.2, "timeout": 2, "retries": 3, "start_period": 60},
             "args": [\(arguments)]}
            """)
    }

    /// Both logs of an instance: what the server printed, for the independent test parser.
    func printed(_ harness: DaemonHarness, _ name: String) -> ServerMeasurement {
        let text = ["stderr.log", "stdout.log"].compactMap { harness.project.read("logs/\(name)/\($0)") }
        return ServerMeasurement.parse(log: text.joined(separator: "\n"))
    }

    func expectEqual(_ measured: MeasuredAllocation, _ printed: ServerMeasurement) {
        let kinds: [(MeasuredAllocation.Kind, [String: UInt64])] = [
            (.model, printed.model), (.kvCache, printed.kvCache), (.compute, printed.compute),
            (.output, printed.output),
        ]
        for (kind, buffers) in kinds {
            let stored = Dictionary(
                measured.buffers.filter { $0.kind == kind }.map { ($0.name, $0.bytes) }, uniquingKeysWith: +)
            #expect(stored == buffers, "\(kind): stored \(stored), printed \(buffers)")
        }
    }

    /// The newer CPU build prints its buffers at `-lv 4`: the stored figure equals the printed one, and a second
    /// instance fits on a host sized so that only the first one's measured size leaves room for it (every estimate
    /// is made 1 GiB larger than the truth). Without a measurement (default verbosity) the same second instance
    /// is refused.
    @Test func cpuMeasuredFigureIsThePrintedOneAndTheNextPlacementCountsIt() async throws {
        let harness = try DaemonHarness("daemon-measured-cpu")
        defer { harness.cleanUp() }
        let binary = try AccuracyBuild.cpu().binary
        // Host of 2000 MiB, 200 MiB headroom: 1800 MiB for estimates of about 1027 MiB each.
        let devices = try harness.project.write(
            "devices.json", #"{"devices": [{"name": "host", "kind": "cpu", "total_mib": 2000}]}"#)
        let environment = ["LLAMA_ORCH_DEVICES": devices, "LLAMA_ORCH_TEST_ESTIMATE_OFFSET_MIB": "1024"]
        try realInstance(harness, "first", binary: binary, backend: "static", args: ["-lv", "4"])
        try realInstance(harness, "second", binary: binary, backend: "static", args: [])
        try harness.ok(["up", "first", "--wait", "--timeout", "120"], environment: environment)
        let run = try #require(try harness.store().openRuns().first { $0.instance == "first" })
        let firstEvents = try harness.store().events(of: "first").map(\.message)
        let measured = try #require(run.measured, "events: \(firstEvents)")
        expectEqual(measured, printed(harness, "first"))
        let placement = try #require(run.placement)
        #expect(measured.bytes(device: nil) + 1000 << 20 < placement.hostBytes, "the estimate carries the offset")
        let status = try #require(try harness.ps().first { $0.name == "first" })
        #expect(status.measuredBytes == measured.totalBytes)
        let describe = try harness.ok(["describe", "first"]).stdout
        #expect(describe.contains("memory (estimate → measured, from the server log):"), "\(describe)")
        #expect(describe.contains("host  \(AllocationCheck.mib(placement.hostBytes))"), "\(describe)")

        let second = try harness.cli(["up", "second", "--wait", "--timeout", "120"], environment: environment)
        #expect(second.status == 0, "\(second.stdout) \(second.stderr)")
        try harness.ok(["down", "second"])

        // The first one again at default verbosity: not measured, so it counts at its estimate and the second does
        // not fit. (Also `up` recreating a real server for an edited config.)
        let config = try #require(harness.project.read("instances/first/config.json"))
        try harness.project.writeConfig(
            "first", config.replacingOccurrences(of: #""args": ["-lv", "4"]"#, with: #""args": []"#))
        let recreated = try harness.ok(["up", "first", "--wait", "--timeout", "120"], environment: environment)
        #expect(recreated.stdout.contains("recreated (args"), "\(recreated.stdout)")
        let quiet = try #require(try harness.store().openRuns().first { $0.instance == "first" })
        #expect(quiet.measured == nil)
        #expect(try harness.store().events(of: "first").contains { $0.kind == "not-measured" })
        #expect(try harness.ok(["describe", "first"]).stdout.contains("memory: not measured"))
        let refused = try harness.cli(["up", "second"], environment: environment)
        #expect(refused.status == 70, "\(refused.stdout) \(refused.stderr)")
    }

    /// The older llama.cpp on Vulkan (lavapipe) prints its buffers at its default verbosity: per device and host,
    /// stored as printed, and `plan` holds the measured bytes on Vulkan0.
    @Test func vulkanMeasuredPerDeviceIsStoredAndHeldByPlan() async throws {
        let harness = try DaemonHarness("daemon-measured-vulkan")
        defer { harness.cleanUp() }
        let build = try AccuracyBuild.vulkan(legacy: true)
        // lavapipe is a CPU-type device: used only when pinned.
        let pin = #", "device_id": "Vulkan0""#
        try realInstance(harness, "gpu", binary: build.binary, backend: "vulkan", args: [], gpu: pin)
        try realInstance(harness, "next", binary: build.binary, backend: "vulkan", args: [], gpu: pin)
        try harness.ok(["up", "gpu", "--wait", "--timeout", "120"], environment: build.environment)
        let run = try #require(try harness.store().openRuns().first { $0.instance == "gpu" })
        let gpuEvents = try harness.store().events(of: "gpu").map(\.message)
        let measured = try #require(run.measured, "events: \(gpuEvents)")
        expectEqual(measured, printed(harness, "gpu"))
        #expect(measured.devices == ["Vulkan0"])
        #expect(run.placement?.shares.first?.llamaName == "Vulkan0")
        // The tiny model's host buffers are several times their estimate (fixed sizes the estimator does not model
        // at this scale): an event with the numbers, the same devices in `ps --json`, a warning in `describe`.
        let exceeded = try harness.store().events(of: "gpu").filter { $0.kind == "estimate-exceeded" }
        let devices = exceeded.compactMap { $0.details["device"] }
        #expect(!devices.isEmpty && exceeded.allSatisfy { $0.details["measured_bytes"] != nil }, "\(exceeded)")
        #expect(try harness.ps().first { $0.name == "gpu" }?.estimateExceeded == devices)
        let describe = try harness.ok(["describe", "gpu"]).stdout
        #expect(describe.contains("memory (estimate → measured, from the server log):"), "\(describe)")
        for device in devices { #expect(describe.contains("warning: \(device): measured"), "\(describe)") }
        let plan = try harness.ok(["plan", "next", "--json"], environment: build.environment).stdout
        let report = try #require(try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [String: Any])
        let lines = try #require(report["devices"] as? [[String: Any]], "\(plan)")
        let vulkan = try #require(lines.first { $0["name"] as? String == "Vulkan0" }, "\(lines)")
        let held = try #require((vulkan["heldBytes"] ?? vulkan["held_bytes"]) as? NSNumber, "\(vulkan)")
        #expect(held.uint64Value == measured.bytes(device: "Vulkan0"))
    }
}
