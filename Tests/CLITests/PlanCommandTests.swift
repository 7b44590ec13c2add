import Foundation
import OrchestratorCore
import Scheduler
import TestSupport
import Testing

/// A project with fixture models written by `make-tiny-model` and instance configs.
struct PlanProject {
    let project: TemporaryProject

    init(_ name: String) throws {
        project = try TemporaryProject(name)
    }

    func model(_ kind: String, as file: String) throws {
        let result = try CommandRunner.run(
            CommandRunner.product("make-tiny-model"), ["--kind", kind, "--out", project.root + "/models/" + file])
        try #require(result.status == 0, "make-tiny-model failed: \(result.stderr)")
    }

    func instance(_ name: String, model: String, port: Int, extra: String = "") throws {
        try project.writeConfig(
            name,
            #"{"name": "\#(name)", "model": {"path": "../../models/\#(model)", "context_size": 1024}, "server": {"port": \#(port)}\#(extra)}"#
        )
    }

    func inventory(_ devices: [(String, Int)]) throws -> String {
        let entries = devices.map { #"{"name": "\#($0.0)", "kind": "discrete", "total_mib": \#($0.1)}"# }
        return try project.write(
            "devices.json",
            #"{"devices": [\#(entries.joined(separator: ", ")), {"name": "host", "kind": "cpu", "total_mib": 65536}]}"#)
    }

    /// `llama-orch plan --json` and its decoded report.
    func plan(_ arguments: [String], expectStatus: Int32 = 0) throws -> PlanReport {
        let result = try CommandRunner.llamaOrch(
            ["plan", "--json"] + arguments, in: project.root, environment: ["LLAMA_SERVER": try realLlamaServer()])
        try #require(result.status == expectStatus, "plan exited \(result.status): \(result.stderr)")
        return try JSONDecoder.cliOutput.decode(PlanReport.self, from: Data(result.stdout.utf8))
    }

    func remove() { project.remove() }
}

@Suite(.serialized) struct PlanCommandTests {
    @Test func plansForHardwareDescribedInAFile() throws {
        let plan = try PlanProject("plan-static")
        defer { plan.remove() }
        try plan.model("large", as: "large.gguf")  // 8 blocks of 21.5 MiB and a 62.5 MiB output layer
        try plan.instance("big", model: "large.gguf", port: 8201)
        let server = try realLlamaServer()
        let environment = ["LLAMA_SERVER": server]
        // One GPU big enough.
        let one = try plan.inventory([("GPU-A", 2048)])
        var report = try plan.plan(["--devices-file", one], expectStatus: 0)
        #expect(report.instances.first?.placement.mode == .singleGPU)
        // Four small GPUs: the fewest that hold it (headroom is 10 % of each).
        let four = try plan.inventory([("A", 160), ("B", 160), ("C", 160), ("D", 160)])
        report = try plan.plan(["--devices-file", four])
        let split = try #require(report.instances.first)
        #expect(split.placement.mode == .multiGPU)
        #expect(split.placement.shares.count < 4)
        let argv = split.command.argv.joined(separator: " ")
        #expect(argv.contains("--tensor-split"))
        #expect(argv.contains("-ngl all"))
        #expect(argv.contains("--fit off"))
        // Too small everywhere, host included: refused, exit 70, with what would help.
        let tiny = try plan.project.write(
            "tiny.json",
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 64}, {"name": "host", "kind": "cpu", "total_mib": 128}]}"#
        )
        let refused = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", tiny], in: plan.project.root, environment: environment)
        #expect(refused.status == 70)
        #expect(refused.stdout.contains("does not fit"))
        #expect(refused.stdout.contains("try:"))
        // Long device names are shown whole in the text form, the bars still in one column.
        let long = try plan.inventory([("GPU-node1-a", 160), ("GPU-node1-b", 160), ("GPU-node1-c", 160)])
        let text = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", long], in: plan.project.root, environment: environment)
        #expect(text.status == 0, "\(text.stderr)")
        let gauges = text.stdout.split(separator: "\n").filter { $0.contains("] ") && $0.contains(" total") }
        for name in ["GPU-node1-a", "GPU-node1-b", "GPU-node1-c"] {
            #expect(gauges.contains { $0.hasPrefix(name + " [") }, "\(name) in\n\(text.stdout)")
        }
        #expect(Set(gauges.map { $0.prefix { $0 != "[" }.count }).count == 1, "one column:\n\(text.stdout)")
    }

    @Test func aMissingOrMalformedDevicesFileAndAnImpossibleHeadroomAreRefusedWithTheirCodes() throws {
        let plan = try PlanProject("plan-bad-options")
        defer { plan.remove() }
        try plan.model("dense", as: "dense.gguf")
        try plan.instance("one", model: "dense.gguf", port: 8202)
        let environment = ["LLAMA_SERVER": try realLlamaServer()]
        let missing = plan.project.root + "/none.json"
        let notFound = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", missing], in: plan.project.root, environment: environment)
        #expect(notFound.status == 66, "\(notFound.stderr)")
        #expect(notFound.stderr.contains("\(missing): no such file"), "\(notFound.stderr)")
        let text = try plan.project.write("devices-text.json", "GPU-A 24 GiB\n")
        let malformed = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", text], in: plan.project.root, environment: environment)
        #expect(malformed.status == 65, "\(malformed.stderr)")
        #expect(malformed.stderr.contains("\(text): not valid JSON: "), "\(malformed.stderr)")
        #expect(malformed.stderr.contains("at line 1, column 1"), "\(malformed.stderr)")
        let devices = try plan.inventory([("GPU-A", 2048)])
        // A pipe is read: `--devices-file <(generate)`, or /dev/stdin.
        let piped = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", "/dev/stdin"], in: plan.project.root, environment: environment,
            input: try #require(plan.project.read("devices.json")))
        #expect(piped.status == 0 && piped.stdout.contains("GPU-A"), "\(piped.stdout)\(piped.stderr)")
        // 2^44 MiB is 2^64 bytes: it wrapped around to no headroom at all.
        let wrapped = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", devices, "--headroom-mib", "17592186044416"], in: plan.project.root,
            environment: environment)
        #expect(wrapped.status == 64, "\(wrapped.stdout)\(wrapped.stderr)")
        #expect(
            wrapped.stderr.contains("--headroom-mib 17592186044416 is more than any device has"), "\(wrapped.stderr)")
    }

    @Test func aDamagedStateStoreIsMovedAsideWithOneWarning() throws {
        let plan = try PlanProject("plan-damaged-store")
        defer { plan.remove() }
        try plan.model("dense", as: "dense.gguf")
        try plan.instance("one", model: "dense.gguf", port: 8203)
        try plan.project.write("state/state.sqlite", String(repeating: "not a database ", count: 512))
        let devices = try plan.inventory([("GPU-A", 2048)])
        let result = try CommandRunner.llamaOrch(
            ["plan", "--devices-file", devices], in: plan.project.root,
            environment: ["LLAMA_SERVER": try realLlamaServer()])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.components(separatedBy: "was damaged").count == 2, "once: \(result.stderr)")
    }

    @Test func cpuPlanStartsTheRealServerAsPlanned() async throws {
        let plan = try PlanProject("plan-cpu")
        defer { plan.remove() }
        try plan.model("dense", as: "dense.gguf")
        let port = try LlamaServerProbe.freePort()
        try plan.instance(
            "cpu", model: "dense.gguf", port: port, extra: #", "gpu": {"backend": "cpu"}, "args": ["-lv", "4"]"#)
        let server = try realLlamaServer()
        let report = try plan.plan(["--backend", "cpu"], expectStatus: 0)
        let planned = try #require(report.instances.first)
        #expect(planned.placement.mode == .cpuOnly)
        #expect(planned.command.argv.first == server)
        let run = try await ServerRun.start(planned.command)
        defer { run.stop() }
        try await run.waitUntilHealthy()
        let measured = ServerMeasurement.parse(log: run.log)
        #expect(measured.kvCells.allSatisfy { $0 == 1024 }, "\(measured.kvCells)")
        let planHost = Double(planned.placement.hostBytes)
        let actual = Double(measured.total)
        #expect(
            abs(planHost - actual) <= 0.05 * actual + 1_048_576,
            "planned \(planHost) bytes, the server reports \(actual)")
    }

    /// The older llama.cpp (no --fit, blocks-first -ngl) with the Vulkan backend on Mesa's lavapipe.
    @Test(.timeLimit(.minutes(5)), arguments: ["auto", "2"])
    func vulkanPlanOnLavapipeIsWhatTheServerReports(layers: String) async throws {
        let plan = try PlanProject("plan-vulkan")
        defer { plan.remove() }
        try plan.model("dense", as: "dense.gguf")
        let server = try realLlamaServer(old: true)
        let port = try LlamaServerProbe.freePort()
        let layerValue = layers == "auto" ? #""auto""# : layers
        try plan.instance(
            "vk", model: "dense.gguf", port: port,
            extra:
                #", "gpu": {"backend": "vulkan", "device_id": 0, "layers": \#(layerValue)}, "binary": {"path": "\#(server)"}"#
        )
        let report = try plan.plan(["--backend", "vulkan"])
        let planned = try #require(report.instances.first)
        #expect(planned.command.environment["GGML_VK_VISIBLE_DEVICES"] != nil)
        let argv = planned.command.argv
        #expect(!argv.contains("--fit"), "the older build has no --fit")
        let share = try #require(planned.placement.shares.first)
        if layers == "auto" {
            #expect(planned.placement.mode == .singleGPU)
            #expect(argv.joined(separator: " ").contains("-ngl 999"))
        } else {
            #expect(planned.placement.mode == .partialOffload)
            #expect(planned.placement.offloadedBlocks == 2 && !planned.placement.offloadsOutput)
            #expect(argv.joined(separator: " ").contains("-ngl 2 "))
        }
        let run = try await ServerRun.start(planned.command)
        defer { run.stop() }
        try await run.waitUntilHealthy(timeout: .seconds(240))
        #expect(run.log.contains("using device Vulkan0"))
        let units = planned.placement.offloadedUnits
        #expect(
            run.log.contains("offloaded \(units)/\(planned.placement.blockCount + 1) layers to GPU"),
            "\(run.log.suffix(3000))")
        let measured = ServerMeasurement.parse(log: run.log)
        let device =
            (measured.model["Vulkan0"] ?? 0) + (measured.kvCache["Vulkan0"] ?? 0) + (measured.compute["Vulkan0"] ?? 0)
        try #require(device > 0, "no Vulkan0 buffers in the log")
        let plannedDevice = Double(share.bytes)
        #expect(
            abs(plannedDevice - Double(device)) <= 0.05 * Double(device) + 1_048_576,
            "planned \(share.bytes) bytes on Vulkan0, the server reports \(device)")
    }
}

/// A llama-server started from a planned command, its output collected in a temporary log file.
final class ServerRun: @unchecked Sendable {
    let process: Process
    let logPath: String
    let port: Int

    private init(process: Process, logPath: String, port: Int) {
        self.process = process
        self.logPath = logPath
        self.port = port
    }

    static func start(_ command: LaunchCommand) async throws -> ServerRun {
        let logPath = NSTemporaryDirectory() + "llama-orch-server-\(UUID().uuidString).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = Array(command.argv.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(command.environment) { $1 }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let portIndex = command.argv.firstIndex(of: "--port").map { $0 + 1 } ?? 0
        return ServerRun(process: process, logPath: logPath, port: Int(command.argv[portIndex]) ?? 0)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitUntilHealthy(timeout: Duration = .seconds(120)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw ProbeFailure("llama-server exited with \(process.terminationStatus):\n\(log.suffix(3000))")
            }
            if try await LlamaServerProbe.healthStatus(port: port) == 200 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ProbeFailure("llama-server not healthy within \(timeout):\n\(log.suffix(3000))")
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            for _ in 0..<50 where process.isRunning { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: logPath)
    }
}

struct ProbeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
