import OrchestratorCore

/// `tcp`: the port accepts a connection. Says nothing about the model; for servers without `/health`.
public struct TCPHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        if let failure = await HealthProbeClient.connect(host: target.host, port: target.port, timeout: target.timeout)
        {
            return .failed("connect to port \(target.port): \(failure)")
        }
        return .healthy
    }
}
