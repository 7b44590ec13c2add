/// What the control API asks of the daemon; `ControlServer` turns each route into one of these calls.
///
/// A method that throws an `OrchestratorError` answers with its message and exit code (`ErrorBody`); any
/// other error answers 500.
public protocol ControlHandler: Sendable {
    /// `GET /v1/daemon`.
    func daemonInfo() async -> DaemonInfo
    /// `GET /v1/instances[?all=1]`: the supervised instances, or with `all` every instance under `instances/`.
    func instances(all: Bool) async -> [InstanceStatus]
    /// `GET /v1/instances/<name>`.
    func instance(named name: String) async throws -> InstanceStatus
    /// `POST /v1/up`: place and start.
    func up(_ request: InstancesRequest) async throws -> InstancesResponse
    /// `POST /v1/down`: stop; returns when nothing of the instances is left.
    func down(_ request: InstancesRequest) async throws -> InstancesResponse
    /// `POST /v1/restart`.
    func restart(_ request: InstancesRequest) async throws -> InstancesResponse
    /// `POST /v1/daemon/stop`: stop (or keep) the instances, then shut the daemon down after answering.
    func stopDaemon(_ request: DaemonStopRequest) async
}
