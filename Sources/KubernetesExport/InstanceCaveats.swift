import OrchestratorCore
import Scheduler

/// What of one instance's config Kubernetes can't say, or says differently: one caveat each.
struct InstanceCaveats {
    var instance: ExportInstance
    var options: KubernetesExportOptions

    var all: [ExportCaveat] {
        [
            gpuSharing, devicePin, gpuMemory, deviceGroup, restart, backoff, onDemand, modelPath, argumentPaths,
            droppedArguments, environment, environmentPaths, healthCheck, probeRounding, threads, logs,
        ].compactMap { $0 }
    }

    private var name: String { instance.config.name }
    private var config: InstanceConfig { instance.config }

    private func caveat(
        _ topic: ExportCaveat.Topic, _ severity: ExportCaveat.Severity, _ message: String
    )
        -> ExportCaveat
    {
        ExportCaveat(instance: name, topic: topic, severity: severity, message: message)
    }

    private var gpuSharing: ExportCaveat? {
        guard !instance.sharesGPUWith.isEmpty, instance.accelerator != .cpu else { return nil }
        return caveat(
            .gpuSharing, .lossy,
            "shares a GPU with \(instance.sharesGPUWith.joined(separator: ", ")) by memory on this machine; "
                + "Kubernetes gives each pod whole GPUs, so it takes \(instance.placement.shares.count) GPU(s) of its own"
        )
    }

    private var devicePin: ExportCaveat? {
        var pins: [String] = []
        if let device = config.gpu.deviceID { pins.append("gpu.device_id \(device)") }
        if let devices = config.gpu.devices {
            pins.append("gpu.devices [\(devices.map(\.description).joined(separator: ", "))]")
        }
        guard !pins.isEmpty else { return nil }
        return caveat(
            .devicePin, .lossy,
            "\(pins.joined(separator: " and ")) pins devices of this machine; in a pod the GPUs are whichever the "
                + "scheduler gives, numbered from 0, so the pin is dropped (select nodes or devices by label instead)")
    }

    private var gpuMemory: ExportCaveat? {
        guard instance.accelerator != .cpu, options.gpuAPI == .devicePlugin else { return nil }
        let bytes = instance.placement.shares.map(\.bytes).max() ?? 0
        return caveat(
            .gpuMemory, .lossy,
            "a device plugin counts whole GPUs, not memory: the pod may get a GPU with less than the "
                + "\(formatBytes(bytes)) it needs; --gpu-api dra asks for the memory, or select nodes by a GPU "
                + "memory label")
    }

    private var deviceGroup: ExportCaveat? {
        guard instance.accelerator == .rocm || instance.accelerator == .vulkan else { return nil }
        let devices = instance.accelerator == .rocm ? "/dev/kfd and /dev/dri" : "/dev/dri/renderD*"
        return caveat(
            .deviceGroup, .lossy,
            "the server runs as user \(KubernetesRenderer.userID), not root: it can open \(devices) only if the pod's "
                + "securityContext.supplementalGroups has the node's render (and video) group ids, which differ by "
                + "distribution")
    }

    private var restart: ExportCaveat? {
        let policy = config.restartPolicy
        switch policy.type {
        case "never":
            return caveat(
                .restartNever, .impossible,
                "restart_policy never: a Deployment's pod always restarts (restartPolicy Always); scale it to 0 "
                    + "to keep it down")
        case "on-failure", "unless-stopped", "always":
            return caveat(
                .restartLimit, .lossy,
                "restart_policy \(policy.type) with max_retries \(policy.maxRetries): the kubelet restarts forever, "
                    + "with CrashLoopBackOff (10 s doubling to 5 min); it never gives up as llama-orch does")
        default:
            return nil
        }
    }

    private var backoff: ExportCaveat? {
        let policy = config.restartPolicy
        let defaults = InstanceConfig.Defaults.restartPolicy
        guard policy.type != "never",
            policy.initialDelay != defaults.initialDelay || policy.backoffMultiplier != defaults.backoffMultiplier
                || policy.maxDelay != defaults.maxDelay || policy.resetAfter != defaults.resetAfter
                || policy.jitter != defaults.jitter
        else { return nil }
        return caveat(
            .restartBackoff, .lossy,
            "restart_policy's backoff (initial_delay \(seconds(policy.initialDelay)), max_delay "
                + "\(seconds(policy.maxDelay)), reset_after \(seconds(policy.resetAfter))) is dropped: the kubelet's "
                + "own backoff applies")
    }

    private var onDemand: ExportCaveat? {
        guard !config.autostart else { return nil }
        return caveat(
            .onDemandStart, .lossy,
            "autostart is false: llama-orch starts it on `up`, the Deployment runs it all the time "
                + "(kubectl scale --replicas 0 to stop it); Kubernetes has no idle unload")
    }

    private var modelPath: ExportCaveat? {
        let host = config.model.resolvedPath
        let container = options.storage.containerPath(forModelAt: host)
        let relative = String(container.dropFirst(ModelStorage.mountPath.count + 1))
        let where_: String
        switch options.storage {
        case .persistentVolumeClaim(let claim):
            where_ = "the PersistentVolumeClaim \(claim) must hold it as \(relative)"
        case .hostPath(let directory, let node): where_ = "node \(node) must have it at \(directory)/\(relative)"
        case .image(let reference): where_ = "the image \(reference) must hold it as /\(relative)"
        }
        return caveat(.modelPath, .lossy, "model \(host) is read as \(container); \(where_)")
    }

    private var argumentPaths: ExportCaveat? {
        let paths = Self.hostPaths(in: instance.arguments.filter { !Self.containerPaths.contains($0) })
        guard !paths.isEmpty else { return nil }
        return caveat(
            .argsHostPath, .lossy,
            "args name host paths (\(paths.joined(separator: ", "))), kept as they are: the container has none of "
                + "them unless you mount them")
    }

    private var droppedArguments: ExportCaveat? {
        guard !instance.droppedArguments.isEmpty else { return nil }
        return caveat(
            .argsDropped, .lossy,
            "args \(instance.droppedArguments.joined(separator: " ")) dropped: the container sets the model, "
                + "--host 0.0.0.0, --port \(KubernetesExporter.containerPort) and its devices itself")
    }

    private var environment: ExportCaveat? {
        guard !instance.droppedEnvironment.isEmpty else { return nil }
        return caveat(
            .envDropped, .lossy,
            "env \(instance.droppedEnvironment.joined(separator: ", ")) dropped: it picks devices by index, and the "
                + "pod sees only its own GPUs, numbered from 0")
    }

    private var environmentPaths: ExportCaveat? {
        let names = instance.environment.filter { !Self.hostPaths(in: [$0.value]).isEmpty }.keys.sorted()
        guard !names.isEmpty else { return nil }
        return caveat(
            .envHostPath, .lossy,
            "env \(names.joined(separator: ", ")) name host paths, kept as they are: the container has none of them "
                + "unless you mount them")
    }

    private var healthCheck: ExportCaveat? {
        switch config.healthcheck.type {
        case "inference":
            caveat(
                .healthCheckType, .lossy,
                "the inference health check (a one-token completion) becomes GET /health: Kubernetes probes can't "
                    + "send a request body")
        case "process":
            caveat(
                .healthCheckType, .lossy,
                "the process health check has no Kubernetes probe: the kubelet restarts the container when it exits; "
                    + "GET /health only marks it ready")
        default:
            nil
        }
    }

    private var probeRounding: ExportCaveat? {
        let health = config.healthcheck
        let values = [
            ("interval", health.interval), ("timeout", health.timeout), ("start_interval", health.startInterval),
        ]
        let rounded = values.filter { Double(ProbeSettings.seconds($0.1)) != $0.1 }
        guard !rounded.isEmpty else { return nil }
        return caveat(
            .probeRounding, .lossy,
            "healthcheck "
                + rounded.map { "\($0.0) \(seconds($0.1)) → \(ProbeSettings.seconds($0.1)) s" }.joined(separator: ", ")
                + ": Kubernetes probes count whole seconds, at least 1")
    }

    private var threads: ExportCaveat? {
        guard config.model.threads == nil else { return nil }
        return caveat(
            .threadsDefault, .lossy,
            "model.threads is unset: -t and the CPU request are this machine's \(options.defaultThreads) physical "
                + "cores; set it for the nodes you run on")
    }

    private var logs: ExportCaveat? {
        let defaults = InstanceConfig.Defaults.logs
        guard config.logs != defaults else { return nil }
        return caveat(
            .logs, .lossy,
            "logs (max_size_mb \(config.logs.maxSizeMB), rotation \(config.logs.rotation)) don't apply: the container "
                + "logs to the kubelet, which rotates by its own containerLogMaxSize")
    }

    /// The paths the container uses itself, not the config's.
    private static let containerPaths: Set<String> = [Accelerator.serverPath]

    /// The arguments (or `--flag=value` values) that look like host paths: absolute, or starting with `~/`, `./` or
    /// `../`; the model path under the volume is not one.
    static func hostPaths(in arguments: [String]) -> [String] {
        arguments.compactMap { argument -> String? in
            let value =
                argument.hasPrefix("-")
                ? argument.split(separator: "=", maxSplits: 1).dropFirst().first.map(String.init) : argument
            guard let value, !value.hasPrefix(ModelStorage.mountPath + "/") else { return nil }
            return ["/", "~/", "./", "../"].contains(where: { value.hasPrefix($0) }) ? value : nil
        }
    }

    private func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
