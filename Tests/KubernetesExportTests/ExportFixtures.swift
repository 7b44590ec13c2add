import Foundation
import KubernetesExport
import OrchestratorCore
import Scheduler
import TestSupport
import Testing

/// Configs, devices and placements for rendering without reading a model, the golden files, and the schema check.
enum ExportFixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let goldenFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Golden"
    )
    .path

    /// A config decoded as the validator decodes a valid file (defaults filled in), its model path resolved against
    /// `/srv/llm/instances/NAME`; the model file need not exist.
    static func config(_ name: String, _ json: String) throws -> InstanceConfig {
        var config = try JSONDecoder().decode(InstanceConfig.self, from: Data(json.utf8))
        #expect(config.name == name)
        let path = config.model.path
        config.model.resolvedPath =
            path.hasPrefix("/") ? path : URL(fileURLWithPath: "/srv/llm/instances/\(name)/" + path).standardized.path
        return config
    }

    static func gpu(_ llamaName: String, gib: UInt64, backend: String = "fallback") -> Device {
        Device(
            id: "\(backend):\(llamaName)", backend: backend, llamaName: llamaName, description: "GPU \(llamaName)",
            kind: .discrete, totalBytes: gib << 30, freeBytes: gib << 30)
    }

    static let host = Device(
        id: "cpu", backend: "cpu", llamaName: nil, description: "host", kind: .cpu, totalBytes: 64 << 30,
        freeBytes: 64 << 30)

    static func share(_ device: Device, blocks: Range<Int>, output: Bool, mib: UInt64) -> DeviceShare {
        DeviceShare(
            deviceID: device.id, llamaName: device.llamaName, firstBlock: blocks.lowerBound, blockCount: blocks.count,
            holdsOutput: output, bytes: mib << 20)
    }

    static func placement(
        _ name: String, mode: PlacementMode, shares: [DeviceShare], blocks: Int = 28, hostMiB: UInt64
    ) -> Placement {
        let offloaded = shares.reduce(0) { $0 + $1.blockCount }
        return Placement(
            instance: name, mode: mode, shares: shares, offloadedBlocks: offloaded,
            offloadsOutput: shares.contains(where: \.holdsOutput), blockCount: blocks, hostBytes: hostMiB << 20,
            reasons: [])
    }

    static func options(
        gpuAPI: GPUAPI = .devicePlugin, storage: ModelStorage = .defaultStorage, namespace: String? = nil,
        version: KubernetesVersion = .default
    ) -> KubernetesExportOptions {
        KubernetesExportOptions(
            namespace: namespace, storage: storage, gpuAPI: gpuAPI, kubernetesVersion: version, stopGraceSeconds: 30,
            defaultThreads: 8)
    }

    // MARK: The golden cases

    /// A CPU instance: defaults nearly everywhere, threads unset, a tcp health check, never restarted.
    static func cpuInstance(_ exporter: KubernetesExporter) throws -> ExportInstance {
        let config = try config(
            "embed",
            #"""
            {"name": "embed", "model": {"path": "/srv/models/nomic-embed-text-v1.5.Q8_0.gguf", "context_size": 2048},
             "server": {"port": 8003, "parallel": 2}, "gpu": {"backend": "cpu"},
             "healthcheck": {"type": "tcp", "interval": 15, "timeout": 3, "retries": 2, "start_period": 30},
             "restart_policy": {"type": "never"}, "args": ["--embeddings", "--pooling", "mean"]}
            """#)
        let placement = placement("embed", mode: .cpuOnly, shares: [], blocks: 12, hostMiB: 310)
        return try exporter.instance(config: config, placement: placement, devices: [host])
    }

    /// One NVIDIA GPU: the device pinned by index, a visibility variable and a --port in args to drop, a LoRA
    /// named by a host path, autostart on.
    static func singleGPUInstance(_ exporter: KubernetesExporter) throws -> ExportInstance {
        let config = try config(
            "qwen",
            #"""
            {"name": "qwen", "autostart": true,
             "model": {"path": "../../models/qwen2.5-7b-instruct-q4_k_m.gguf", "context_size": 8192, "threads": 6,
                       "cache_type_k": "q8_0", "cache_type_v": "q8_0", "flash_attention": "on"},
             "server": {"port": 8001, "parallel": 2, "timeout": 600},
             "gpu": {"backend": "fallback", "device_id": 0},
             "healthcheck": {"interval": 10, "timeout": 5, "retries": 3, "start_interval": 2, "start_period": 300},
             "restart_policy": {"type": "on-failure", "max_retries": 5},
             "env": {"CUDA_VISIBLE_DEVICES": "0", "LLAMA_LOG_COLORS": "off"},
             "args": ["--port", "9000", "--lora", "/srv/lora/style.gguf", "--jinja"]}
            """#)
        let cuda0 = gpu("CUDA0", gib: 24)
        let placement = placement(
            "qwen", mode: .singleGPU, shares: [share(cuda0, blocks: 0..<28, output: true, mib: 6134)], hostMiB: 612)
        return try exporter.instance(
            config: config, placement: placement, devices: [cuda0, host], sharesGPUWith: ["coder"])
    }

    /// A 70B model split over two NVIDIA GPUs, with a fractional health check and the inference checker.
    static func splitGPUInstance(_ exporter: KubernetesExporter) throws -> ExportInstance {
        let config = try config(
            "llama70b",
            #"""
            {"name": "llama70b", "autostart": true,
             "model": {"path": "/srv/models/Llama-3.3-70B-Instruct-Q4_K_M.gguf", "context_size": 16384,
                       "threads": 16},
             "server": {"port": 8002},
             "gpu": {"backend": "fallback"},
             "healthcheck": {"type": "inference", "interval": 30, "timeout": 2.5, "retries": 3, "start_period": 900},
             "restart_policy": {"type": "always", "max_retries": 10, "initial_delay": 5, "max_delay": 120}}
            """#)
        let cuda0 = gpu("CUDA0", gib: 24)
        let cuda1 = gpu("CUDA1", gib: 24)
        let placement = placement(
            "llama70b", mode: .multiGPU,
            shares: [
                share(cuda0, blocks: 0..<40, output: false, mib: 21_504),
                share(cuda1, blocks: 40..<80, output: true, mib: 22_016),
            ],
            blocks: 80, hostMiB: 1_100)
        return try exporter.instance(config: config, placement: placement, devices: [cuda0, cuda1, host])
    }

    /// One Vulkan GPU found by the vulkan driver, partially offloaded, with a process health check.
    static func vulkanInstance(_ exporter: KubernetesExporter) throws -> ExportInstance {
        let config = try config(
            "phi-3.5_mini",
            #"""
            {"name": "phi-3.5_mini", "model": {"path": "../../models/phi-3.5-mini-instruct-Q6_K.gguf",
             "context_size": 4096, "threads": 4},
             "server": {"port": 8004}, "gpu": {"backend": "vulkan", "layers": 20},
             "healthcheck": {"type": "process"},
             "env": {"GGML_VK_VISIBLE_DEVICES": "1"},
             "logs": {"max_size_mb": 20, "rotation": 2}}
            """#)
        let vulkan0 = gpu("Vulkan0", gib: 8, backend: "vulkan")
        let placement = placement(
            "phi-3.5_mini", mode: .partialOffload, shares: [share(vulkan0, blocks: 12..<32, output: true, mib: 2_300)],
            blocks: 32, hostMiB: 1_450)
        return try exporter.instance(config: config, placement: placement, devices: [vulkan0, host])
    }

    /// The golden cases by folder name: instances and options.
    static func goldenCases() throws -> [(
        name: String, options: KubernetesExportOptions, build: [(KubernetesExporter) throws -> ExportInstance]
    )] {
        [
            ("cpu", options(namespace: "llm"), [cpuInstance]),
            ("single-gpu", options(), [singleGPUInstance]),
            (
                "split-gpu", options(storage: .hostPath(directory: "/srv/models", node: "gpu-node-1")),
                [splitGPUInstance]
            ),
            ("vulkan", options(storage: .image("registry.example.com/models/phi:3.5")), [vulkanInstance]),
            (
                "dra", options(gpuAPI: .dra, namespace: "llm", version: KubernetesVersion(minor: 35)),
                [singleGPUInstance, splitGPUInstance]
            ),
        ]
    }

    /// Renders one golden case.
    static func render(
        _ options: KubernetesExportOptions, _ builders: [(KubernetesExporter) throws -> ExportInstance]
    ) throws -> KubernetesExport {
        let exporter = KubernetesExporter(options: options)
        return try KubernetesRenderer(options: options).render(try builders.map { try $0(exporter) })
    }

    // MARK: Checking

    /// The differences between `expected` and `actual` as `diff -u` prints them (or both texts when diff is missing).
    static func diff(_ expected: String, _ actual: String, label: String) -> String {
        let folder = NSTemporaryDirectory() + "k8s-diff-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let left = folder + "/expected", right = folder + "/actual"
        try? expected.write(toFile: left, atomically: true, encoding: .utf8)
        try? actual.write(toFile: right, atomically: true, encoding: .utf8)
        if let result = try? CommandRunner.run(
            "diff", ["-u", "--label", "Golden/" + label, "--label", "rendered", left, right])
        {
            return result.stdout
        }
        return "expected:\n\(expected)\nrendered:\n\(actual)"
    }

    /// Validates every file with scripts/k8s_validate.py against `versions`: its output, or an error saying what to
    /// install.
    static func validate(_ files: [String], versions: [String]) throws -> CommandResult {
        let result = try CommandRunner.run(
            "python3", [packageRoot + "/scripts/k8s_validate.py", versions.joined(separator: ",")] + files)
        if result.stderr.contains("is missing") || result.stdout.isEmpty && result.status != 0 {
            let message =
                "scripts/k8s_validate.py could not run (\(result.status)): \(result.stderr)\n"
                + "install the schemas with: python3 -m pip install kubernetes-validate (scripts/setup.sh does it)"
            Issue.record(Comment(rawValue: message))
        }
        return result
    }

    /// Writes `export`'s files into a new temporary folder and returns it.
    static func writeTemporary(_ export: KubernetesExport) throws -> String {
        let folder = NSTemporaryDirectory() + "k8s-export-\(UUID().uuidString)"
        try ManifestFolder(path: folder).write(export, force: false)
        return folder
    }
}
