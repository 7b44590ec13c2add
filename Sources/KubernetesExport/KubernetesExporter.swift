import GGUF
import OrchestratorCore
import Scheduler

/// One instance as its pod runs it: the config, where the planner put it on whole devices, and llama-server's
/// arguments rewritten for the container.
public struct ExportInstance: Sendable, Equatable {
    public var config: InstanceConfig
    /// The instance planned alone on the devices, each device whole (a pod gets whole GPUs).
    public var placement: Placement
    public var accelerator: Accelerator
    /// llama-server's arguments after the executable, from the same command builder as `plan`.
    public var arguments: [String]
    /// The config's `env` without the device visibility variables.
    public var environment: [String: String]
    /// What was taken out of the config's `args` (flags the container sets itself) and `env`.
    public var droppedArguments: [String]
    public var droppedEnvironment: [String]
    /// Instances that share a GPU with this one when `up` places them together on this machine.
    public var sharesGPUWith: [String]
}

/// Plans instances for pods and builds their container command lines; `KubernetesRenderer` writes the manifests.
public struct KubernetesExporter: Sendable {
    public var options: KubernetesExportOptions

    /// The port llama-server listens on in every container.
    public static let containerPort = 8080
    /// Flags the container sets itself, taken out of a config's `args` with their values.
    static let managedFlags: Set<String> = ["--host", "--port", "-m", "--model", "--device", "-dev"]
    /// Variables that pick devices by index: the device plugin gives the pod its GPUs numbered from 0.
    static let visibilityVariables: Set<String> = [
        "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL",
        "GGML_VK_VISIBLE_DEVICES",
    ]

    public init(options: KubernetesExportOptions) {
        self.options = options
    }

    /// Reads each model's header, places each instance alone on whole `devices` (as a pod gets them), and builds its
    /// container command; also plans them together, as `up` would on this machine, to find GPUs shared by memory.
    ///
    /// - Throws: `PlanningError.model` for a model that can't be read, `PlacementError` (every refusal) when an
    ///   instance fits nowhere, `ExportError.unknownAccelerator` when the devices' names don't tell the GPU API:
    ///   the same errors as `plan`, before anything is rendered.
    public func plan(_ configs: [InstanceConfig], devices: [Device], backend: String) throws -> [ExportInstance] {
        let binary = Accelerator.imageBinary
        let whole = devices.map { device -> Device in
            var device = device
            device.freeBytes = device.totalBytes
            return device
        }
        var inputs: [PlanningInput] = []
        for config in configs {
            do {
                inputs.append(try PlanningInput.load(config, binary: binary, devices: whole))
            } catch let error as GGUFError {
                throw PlanningError.model(config.name, config.model.resolvedPath, error.description)
            }
        }
        let planner = Planner(policy: PlacementPolicy(), binary: binary, defaultThreads: options.defaultThreads)
        let noLaunchSettings: ([Device]) -> LaunchSettings = { _ in LaunchSettings(deviceNames: [], environment: [:]) }
        var placements: [String: Placement] = [:]
        var refusals: [PlacementRefusal] = []
        for input in inputs {
            let alone = planner.plan(
                [input], backend: backend, devices: whole, heldBytes: [:], launchSettings: noLaunchSettings)
            refusals += alone.refusals
            for instance in alone.instances { placements[instance.placement.instance] = instance.placement }
        }
        guard refusals.isEmpty else { throw PlacementError(refusals: refusals) }

        let together = planner.plan(
            inputs, backend: backend, devices: whole, heldBytes: [:], launchSettings: noLaunchSettings)
        var sharing: [String: Set<String>] = [:]
        for line in together.devices where line.kind != .cpu && line.planned.count > 1 {
            let names = line.planned.map(\.instance)
            for name in names { sharing[name, default: []].formUnion(names.filter { $0 != name }) }
        }
        // The planner answers every input with a placement or a refusal, and there was no refusal.
        return try configs.compactMap { config in
            try placements[config.name].map {
                try instance(
                    config: config, placement: $0, devices: whole, sharesGPUWith: (sharing[config.name] ?? []).sorted())
            }
        }
    }

    /// The container's side of one placed instance: the accelerator, llama-server's arguments (model under the
    /// mounted volume, `--host 0.0.0.0`, the fixed container port, no `--device`, `--metrics`) and environment.
    public func instance(
        config: InstanceConfig, placement: Placement, devices: [Device], sharesGPUWith: [String] = []
    ) throws(ExportError) -> ExportInstance {
        let accelerator = try Accelerator.of(placement, devices: devices)
        let (arguments, droppedArguments) = Self.withoutManagedFlags(config.args)
        var container = config
        container.model.resolvedPath = options.storage.containerPath(forModelAt: config.model.resolvedPath)
        container.server.host = "0.0.0.0"
        container.server.port = Self.containerPort
        container.model.threads = config.model.threads ?? options.defaultThreads
        container.args = arguments
        container.env = [:]
        let builder = CommandBuilder(binary: Accelerator.imageBinary, defaultThreads: options.defaultThreads)
        let command = builder.command(
            for: container, placement: placement, launch: LaunchSettings(deviceNames: [], environment: [:]))
        // The command builder adds `--metrics`, which the preStop hook reads.
        let argv = Array(command.argv.dropFirst())
        let environment = config.env.filter { !Self.visibilityVariables.contains($0.key) }
        return ExportInstance(
            config: config, placement: placement, accelerator: accelerator, arguments: argv, environment: environment,
            droppedArguments: droppedArguments,
            droppedEnvironment: config.env.keys.filter { Self.visibilityVariables.contains($0) }.sorted(),
            sharesGPUWith: sharesGPUWith)
    }

    /// `args` without the flags the container sets itself (each with its value, `--port 9000` or `--port=9000`),
    /// and what was taken out.
    static func withoutManagedFlags(_ args: [String]) -> (kept: [String], dropped: [String]) {
        var kept: [String] = []
        var dropped: [String] = []
        var index = 0
        while index < args.count {
            let argument = args[index]
            let flag = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if managedFlags.contains(flag) {
                if argument.contains("=") || index + 1 >= args.count {
                    dropped.append(argument)
                } else {
                    dropped += [argument, args[index + 1]]
                    index += 1
                }
            } else {
                kept.append(argument)
            }
            index += 1
        }
        return (kept, dropped)
    }
}
