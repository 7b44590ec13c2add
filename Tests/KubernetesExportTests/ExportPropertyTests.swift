import Foundation
import KubernetesExport
import OrchestratorCore
import Scheduler
import TestSupport
import Testing

/// Random valid configs, planned on random devices by the real planner (tiny models from `make-tiny-model`): every
/// export renders the same bytes twice and passes the Kubernetes schemas of a supported version strictly.
@Suite(.serialized) struct ExportPropertyTests {
    static let cases = 200

    /// Strings a YAML writer must quote, paths, flags the container sets itself, visibility variables.
    static let awkward = [
        "on", "off", "y", "n", "yes", "NO", "null", "~", "1e3", "0x1F", "0o17", "12:30", "2026-01-02", "- x", "a: b",
        "#x", "'q'", "\"dq\"", "*star", "&amp", "!tag", "%p", "@at", "`tick`", "multi\nline", " lead", "trail ", "",
        "é ü", "/srv/lora/a.gguf", "./rel", "--port=9001", "=",
    ]

    @Test func randomExportsAreDeterministicAndValid() throws {
        let project = try TemporaryProject("k8s-property")
        defer { project.remove() }
        let models = ["dense", "moe", "q8_0", "medium", "large"]
        for kind in models {
            let result = try CommandRunner.run(
                CommandRunner.product("make-tiny-model"),
                ["--kind", kind, "--out", project.root + "/models/\(kind).gguf"])
            try #require(result.status == 0, "make-tiny-model --kind \(kind): \(result.stderr)")
        }
        let validator = ConfigValidator(knownNames: KnownNames(backends: ["cpu", "fallback", "static", "vulkan"]))
        var streams: [(seed: UInt64, file: String, dra: Bool)] = []
        for seed in 1...UInt64(Self.cases) {
            var random = SeededGenerator(seed: seed)
            let devices = Self.devices(&random)
            var options = ExportFixtures.options(
                gpuAPI: Bool.random(using: &random) ? .dra : .devicePlugin,
                storage: [
                    ModelStorage.defaultStorage, .hostPath(directory: project.root + "/models", node: "node-1"),
                    .image("registry.example.com/models:v1"),
                ][Int.random(in: 0..<3, using: &random)],
                namespace: Bool.random(using: &random) ? "llm" : nil,
                version: KubernetesVersion(minor: Int.random(in: 34...37, using: &random)))
            if Bool.random(using: &random) { options.image = "registry.example.com/llama.cpp:server-b6000" }
            if options.gpuAPI == .dra, Bool.random(using: &random) { options.gpuResource = "gpu.example.com" }
            let count = Int.random(in: 1...3, using: &random)
            var configs: [InstanceConfig] = []
            for index in 0..<count {
                let name = Self.name(index, &random)
                let json = Self.configJSON(
                    name: name, model: models.randomElement(using: &random) ?? "dense", port: 9000 + index,
                    devices: devices.count - 1, &random)
                let report = validator.validate(
                    bytes: Array(json.utf8), file: "instances/\(name)/config.json",
                    folder: project.root + "/instances/\(name)", expectedName: name)
                configs.append(
                    try #require(
                        try? report.get(), "seed \(seed): generated an invalid config \(json): \(report.issues)"))
            }
            let exporter = KubernetesExporter(options: options)
            let instances: [ExportInstance]
            do {
                instances = try exporter.plan(configs, devices: devices, backend: "static")
            } catch is PlacementError {
                continue  // fits nowhere: `plan` refuses it too, and nothing is rendered
            }
            let first: KubernetesExport
            do {
                first = try KubernetesRenderer(options: options).render(instances)
            } catch ExportError.usage(let message) where message.contains("no DRA driver is known for vulkan") {
                #expect(options.gpuResource == nil)
                continue  // Vulkan has no DRA driver of its own: refused unless --gpu-resource names one
            }
            let again = try KubernetesRenderer(options: options).render(
                try exporter.plan(configs, devices: devices, backend: "static"))
            #expect(first == again, "seed \(seed): two exports of the same configs differ")
            #expect(first.report.files.count == Set(first.report.files).count)
            let file = project.root + "/stream-\(seed).yaml"
            try first.stream.write(toFile: file, atomically: true, encoding: .utf8)
            streams.append((seed, file, options.gpuAPI == .dra))
        }
        #expect(streams.count > Self.cases / 2, "most random exports should place: \(streams.count) of \(Self.cases)")
        // Each export against one supported version (DRA from 1.34), one validator run per version: loading the
        // schemas and checking documents dominates the test's time.
        var byVersion: [String: [String]] = [:]
        for (index, stream) in streams.enumerated() {
            let versions = stream.dra ? Array(34...37) : Array(33...37)
            byVersion["1.\(versions[index % versions.count])", default: []].append(stream.file)
        }
        for (version, files) in byVersion.sorted(by: { $0.key < $1.key }) {
            let result = try ExportFixtures.validate(files, versions: [version])
            let errors = result.stdout.split(separator: "\n").filter { $0.hasPrefix("error") }.prefix(10)
            #expect(result.status == 0, "Kubernetes \(version): \(errors.joined(separator: "\n"))")
        }
    }

    /// Host memory and one to four GPUs of one accelerator, named as llama.cpp names them.
    static func devices(_ random: inout SeededGenerator) -> [Device] {
        let prefix = ["CUDA", "ROCm", "Vulkan"].randomElement(using: &random) ?? "CUDA"
        let gpus = (0..<Int.random(in: 0...4, using: &random)).map { index -> Device in
            let mib = UInt64.random(in: 32...2048, using: &random)
            return Device(
                id: "static:gpu\(index)", backend: "static", llamaName: "\(prefix)\(index)",
                description: "GPU \(index)",
                kind: .discrete, totalBytes: mib << 20, freeBytes: mib << 20)
        }
        let hostMiB = UInt64.random(in: 128...65536, using: &random)
        return gpus + [
            Device(
                id: "static:host", backend: "static", llamaName: nil, description: "host", kind: .cpu,
                totalBytes: hostMiB << 20, freeBytes: hostMiB << 20)
        ]
    }

    /// A valid instance name (`^[a-z0-9][a-z0-9._-]{0,62}$`), unique by index even once `.` and `_` become `-`.
    static func name(_ index: Int, _ random: inout SeededGenerator) -> String {
        let alphabet = Array("abcxyz019._-")
        let tail = String(
            (0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
        let head = ["0", "q", "m", "7b"].randomElement(using: &random)!
        return "\(head)\(index)x\(tail)"
    }

    static func configJSON(
        name: String, model: String, port: Int, devices: Int, _ random: inout SeededGenerator
    )
        -> String
    {
        func pick<T>(_ values: [T]) -> T { values.randomElement(using: &random)! }
        func string(_ text: String) -> String {
            String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
        }
        var model_: [String] = [#""path": "../../models/\#(model).gguf""#]
        model_.append(#""context_size": \#(pick([256, 512, 1024, 2048, 4096]))"#)
        if Bool.random(using: &random) { model_.append(#""threads": \#(Int.random(in: 1...32, using: &random))"#) }
        if Bool.random(using: &random) { model_.append(#""cache_type_k": "\#(pick(["f16", "q8_0", "q4_0"]))""#) }
        if Bool.random(using: &random) { model_.append(#""flash_attention": "\#(pick(["on", "off", "auto"]))""#) }
        var fields = [
            #""name": \#(string(name))"#, #""model": {\#(model_.joined(separator: ", "))}"#,
            #""server": {"port": \#(port), "parallel": \#(Int.random(in: 1...4, using: &random))}"#,
            #""autostart": \#(Bool.random(using: &random))"#,
        ]
        var gpu = [#""backend": "static""#]
        if devices > 0, Int.random(in: 0..<4, using: &random) == 0 {
            gpu.append(#""device_id": \#(Int.random(in: 0..<devices, using: &random))"#)
        }
        fields.append(#""gpu": {\#(gpu.joined(separator: ", "))}"#)
        fields.append(
            #""healthcheck": {"type": "\#(pick(["http", "tcp", "process", "inference"]))", "interval": \#(pick([0.5, 1, 2, 10, 12.5])), "timeout": \#(pick([0.2, 1, 5])), "retries": \#(Int.random(in: 1...5, using: &random)), "start_interval": \#(pick([0.5, 1, 3])), "start_period": \#(pick([1, 30, 60, 601.5]))}"#
        )
        fields.append(
            #""restart_policy": {"type": "\#(pick(BuiltInNames.restartPolicies))", "max_retries": \#(Int.random(in: 0...9, using: &random)), "max_delay": \#(pick([60, 300]))}"#
        )
        let keys = ["CUDA_VISIBLE_DEVICES", "GGML_VK_VISIBLE_DEVICES", "LLAMA_X", "HF_HOME"].shuffled(using: &random)
        let env = keys.prefix(Int.random(in: 0...3, using: &random)).map { "\(string($0)): \(string(pick(awkward)))" }
        fields.append(#""env": {\#(env.joined(separator: ", "))}"#)
        let args = (0..<Int.random(in: 0...4, using: &random)).flatMap { _ in
            pick([["--port", "9100"], ["--jinja"], ["--lora", pick(awkward)], ["--host=::"], [pick(awkward)]])
        }
        fields.append(#""args": [\#(args.map(string).joined(separator: ", "))]"#)
        return "{" + fields.joined(separator: ", ") + "}"
    }
}
