import Host
import OrchestratorCore

/// `process`: the server process exists and is not stopped (SIGSTOP) or a zombie. The weakest check; for
/// servers that listen nowhere the supervisor can reach.
public struct ProcessHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        guard let stat = ProcFS.stat(target.pid) else {
            return .failed("process \(target.pid) is gone")
        }
        switch stat.state {
        case "T", "t": return .failed("process \(target.pid) is stopped")
        case "Z", "X": return .failed("process \(target.pid) has exited")
        default: return .healthy
        }
    }
}
