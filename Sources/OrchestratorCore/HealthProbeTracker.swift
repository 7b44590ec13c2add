/// Turns a sequence of probe results into an instance state, with Kubernetes' probe semantics.
///
/// The start period works like a startup probe: until the server has been healthy once, failures
/// (including 503 while loading) that happen within `startPeriod` of the launch do not count. After it,
/// or once the server has been healthy, `retries` consecutive failures make it unhealthy (a liveness probe's
/// `failureThreshold`); any success clears the count. A value type with no clock: the caller passes the time
/// since launch, so it is tested without sleeping.
public struct HealthProbeTracker: Sendable, Equatable {
    /// Consecutive failures that make the server unhealthy.
    public let retries: Int
    /// How long after launch failures are forgiven while the server has never been healthy.
    public let startPeriod: Duration
    /// Failures in a row that counted.
    public private(set) var consecutiveFailures = 0
    /// Whether any probe of this run passed.
    public private(set) var hasBeenHealthy = false
    /// The state the last probe left the server in.
    public private(set) var state: InstanceState = .starting

    public init(retries: Int, startPeriod: Duration) {
        self.retries = max(1, retries)
        self.startPeriod = startPeriod
    }

    /// Builds the tracker from an instance's `healthcheck` settings.
    public init(settings: InstanceConfig.HealthCheck) {
        self.init(retries: settings.retries, startPeriod: .seconds(settings.startPeriod))
    }

    /// Feeds one probe result taken `sinceLaunch` after the server was started.
    ///
    /// - Returns: the new state: `.starting` or `.loading` during the start period, `.healthy`, or
    ///   `.unhealthy` once `retries` failures in a row counted (the server should be restarted).
    @discardableResult
    public mutating func record(_ result: HealthCheckResult, sinceLaunch: Duration) -> InstanceState {
        switch result {
        case .healthy:
            consecutiveFailures = 0
            hasBeenHealthy = true
            state = .healthy
        case .loading, .failed:
            if !hasBeenHealthy && sinceLaunch < startPeriod {
                if case .loading = result { state = .loading }
                return state
            }
            consecutiveFailures += 1
            if consecutiveFailures >= retries { state = .unhealthy }
        }
        return state
    }
}
