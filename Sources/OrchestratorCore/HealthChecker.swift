/// Probes one running server and says whether it is ready; `healthcheck.type` names one in the registry
/// the entry point builds (`http`, `tcp`, `process`, `inference`).
///
/// A checker is stateless: everything it needs about the server comes in the target, so one instance
/// serves every supervised server. Counting failures and the start period are not its job; see
/// `HealthProbeTracker`.
public protocol HealthChecker: Sendable {
    /// Probes the server once, giving up after `target.timeout`.
    ///
    /// Never throws: a probe that cannot be made (connection refused, timeout) is a `.failed` result.
    func check(_ target: HealthCheckTarget) async -> HealthCheckResult
}

/// The server a probe is aimed at.
public struct HealthCheckTarget: Sendable, Equatable {
    /// The address the server listens on (`0.0.0.0` and `::` are probed on the loopback).
    public var host: String
    public var port: Int
    /// The server's process id (the `process` checker looks at it).
    public var pid: Int32
    /// The HTTP path probed by `http` (`/health`).
    public var path: String
    /// How long one probe may take.
    public var timeout: Duration

    public init(host: String, port: Int, pid: Int32, path: String = "/health", timeout: Duration = .seconds(5)) {
        self.host = host
        self.port = port
        self.pid = pid
        self.path = path
        self.timeout = timeout
    }
}

/// What one probe found.
public enum HealthCheckResult: Sendable, Equatable, CustomStringConvertible {
    /// Ready to serve (HTTP 200, a completed token, an accepted connection, a live process).
    case healthy
    /// Up but still loading its model (HTTP 503): fine during the start period, a failure after it.
    case loading(String)
    /// Not answering as it should; the text says how, for events and logs.
    case failed(String)

    /// Whether the server answered (healthy or loading), as opposed to failing to.
    public var answered: Bool {
        if case .failed = self { false } else { true }
    }

    public var description: String {
        switch self {
        case .healthy: "healthy"
        case .loading(let detail): "loading: \(detail)"
        case .failed(let detail): detail
        }
    }
}
