/// Where a supervised instance is in its life, as the supervisor reports it and `ps` shows it.
public enum InstanceState: String, Sendable, Codable, CaseIterable {
    /// The process is being started (port check, spawn) and has not answered a probe yet.
    case starting
    /// The server answers but is still loading its model (HTTP 503); covered by the start period.
    case loading
    /// The last probe passed.
    case healthy
    /// Probes failed `retries` times in a row after the start period; the server is being taken down.
    case unhealthy
    /// The server ended and the restart policy asked for another start, after a backoff delay.
    case restarting
    /// Not running, on purpose: stopped by the user, or ended in a way the policy does not restart.
    case stopped
    /// Not running and given up on: `max_retries` exhausted or the server could not be started.
    /// Stays so until the user runs `up` or `restart`.
    case failed
}

/// One change of an instance's state, with the reason in words.
public struct InstanceTransition: Sendable, Equatable {
    public var instance: String
    public var from: InstanceState
    public var to: InstanceState
    /// Why, for people: "probe failed 3 times: connection refused", "restart 2 in 0.4 s".
    public var reason: String
    /// Seconds since 1970, when the transition happened.
    public var time: Double

    public init(instance: String, from: InstanceState, to: InstanceState, reason: String, time: Double) {
        self.instance = instance
        self.from = from
        self.to = to
        self.reason = reason
        self.time = time
    }
}

/// How one run of a server ended, as the restart policy sees it.
public enum RunEnding: Sendable, Equatable, CustomStringConvertible {
    /// The process exited by itself with this status.
    case exited(status: Int32)
    /// The process was killed by this signal, not by the supervisor.
    case signaled(Int32)
    /// The supervisor took the server down because its health checks failed.
    case unhealthy(reason: String)
    /// The server could not be started (port in use, binary missing).
    case launchFailed(reason: String)
    /// A re-adopted server (not a child of this daemon) is gone; how it ended is unknown.
    case vanished
    /// The user asked for the stop; no policy restarts it.
    case stoppedByUser

    /// Whether the ending counts as a failure (`on-failure` restarts these).
    public var isFailure: Bool {
        switch self {
        case .exited(let status): status != 0
        case .signaled, .unhealthy, .launchFailed, .vanished: true
        case .stoppedByUser: false
        }
    }

    public var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .unhealthy(let reason): "unhealthy: \(reason)"
        case .launchFailed(let reason): "could not start: \(reason)"
        case .vanished: "ended while re-adopted (exit status unknown)"
        case .stoppedByUser: "stopped by the user"
        }
    }
}
