import ControlAPI
import OrchestratorCore

/// What `ps`, `health` and `describe` show for one instance, from what the daemon knows of it: the
/// supervisor's state and run, the config, a start that waits in a queue, the last state change.
///
/// Pure: the daemon gathers the facts (`InstanceManager.status(of:)`), this decides how they read.
enum InstanceStatusProjection {
    /// An instance no supervisor runs: what its config file says.
    static func unsupervised(
        _ name: String, report: ConfigReport, configFileExists: Bool, desired: DesiredState, restarts: Int,
        last: InstanceTransition?
    ) -> InstanceStatus {
        let config = report.config
        return InstanceStatus(
            name: name, state: report.isValid || !configFileExists ? .stopped : .invalid, desiredState: desired,
            health: .notRunning, port: config?.server.port, backend: config?.gpu.backend, model: config?.model.path,
            restarts: restarts, reason: report.isValid ? last?.reason : report.errors.first?.description,
            since: last?.time)
    }

    /// Placed, waiting for the instance before it on the same device to start.
    static func queued(
        _ name: String, config: InstanceConfig?, backend: String?, desired: DesiredState, restarts: Int,
        last: InstanceTransition?
    ) -> InstanceStatus {
        InstanceStatus(
            name: name, state: .queued, desiredState: desired, health: .starting, port: config?.server.port,
            backend: backend, model: config?.model.path, restarts: restarts,
            reason: "placed; waits for the instance before it on the same device", since: last?.time)
    }

    /// A supervised instance: its supervisor's state and current run.
    static func supervised(
        _ name: String, state: InstanceState, run: RunInfo?, config: InstanceConfig?, backend: String?,
        desired: DesiredState, restarts: Int, last: InstanceTransition?, configChanges: [String]? = nil
    ) -> InstanceStatus {
        var status = InstanceStatus(
            name: name, state: InstanceStatus.State(state), desiredState: desired, health: health(state),
            pid: run?.pid, port: run?.port ?? config?.server.port, backend: run?.backend ?? backend,
            devices: run?.placement.map(devices), model: config?.model.path, startedAt: run?.startedAt,
            restarts: restarts, reason: last?.reason, since: last?.time)
        status.configChanges = configChanges
        if let measured = run?.measured {
            status.measuredBytes = measured.totalBytes
            let exceeded = run?.placement.map { AllocationCheck.excesses($0, measured).map(\.device) } ?? []
            status.estimateExceeded = exceeded.isEmpty ? nil : exceeded
        }
        return status
    }

    static func health(_ state: InstanceState) -> InstanceStatus.Health {
        switch state {
        case .healthy: .healthy
        case .unhealthy: .unhealthy
        case .starting, .loading, .restarting: .starting
        case .stopped, .failed: .notRunning
        }
    }

    /// The devices of a placement: llama.cpp's names of its GPUs, or `host`.
    static func devices(_ placement: Placement) -> String {
        if placement.shares.isEmpty { return "host" }
        return placement.shares.map { $0.llamaName ?? $0.deviceID }.joined(separator: ",")
    }
}
