import OrchestratorCore

/// The numbers one `InstanceSupervisor` works by: probing, restarting, logs and stopping.
///
/// Built from an instance's config with `init(config:)`; tests build it field by field (milliseconds where a
/// config would say seconds).
public struct SupervisionSettings: Sendable, Equatable {
    /// The HTTP path the `http` checker probes.
    public var probePath: String
    /// Time between the starts of two probes.
    public var probeInterval: Duration
    /// Time between probes until the first pass, within the start period (`nil`: `probeInterval`).
    public var startInterval: Duration?
    /// How long one probe may take.
    public var probeTimeout: Duration
    /// Consecutive counted failures that make the server unhealthy.
    public var retries: Int
    /// How long after a launch failures don't count while the server has never been healthy.
    public var startPeriod: Duration
    /// The delay before each restart.
    public var backoff: ExponentialBackoff
    /// Restarts in a row before the instance is failed.
    public var maxRetries: Int
    /// Healthy running that sets the restart count back to 0.
    public var resetAfter: Duration
    /// When the logs rotate.
    public var logRotation: LogRotation
    /// How often the log sizes are looked at.
    public var logCheckInterval: Duration
    /// How long a server may take to exit after SIGTERM before the group is killed.
    public var stopGrace: Duration

    public init(
        probePath: String = "/health", probeInterval: Duration = .seconds(10), startInterval: Duration? = nil,
        probeTimeout: Duration = .seconds(5),
        retries: Int = 3, startPeriod: Duration = .seconds(60),
        backoff: ExponentialBackoff = ExponentialBackoff(initialDelay: 1, multiplier: 2, maxDelay: 300, jitter: 0.1),
        maxRetries: Int = 5, resetAfter: Duration = .seconds(600),
        logRotation: LogRotation = LogRotation(maxBytes: 100 * 1_048_576, keep: 5),
        logCheckInterval: Duration = .seconds(5), stopGrace: Duration = .seconds(10)
    ) {
        self.probePath = probePath
        self.probeInterval = probeInterval
        self.startInterval = startInterval.map { min($0, probeInterval) }
        self.probeTimeout = probeTimeout
        self.retries = retries
        self.startPeriod = startPeriod
        self.backoff = backoff
        self.maxRetries = maxRetries
        self.resetAfter = resetAfter
        self.logRotation = logRotation
        self.logCheckInterval = logCheckInterval
        self.stopGrace = stopGrace
    }

    /// The settings an instance's config asks for (`healthcheck`, `restart_policy`, `logs`).
    public init(config: InstanceConfig, stopGrace: Duration = .seconds(10)) {
        let health = config.healthcheck
        let restart = config.restartPolicy
        self.init(
            probePath: health.path, probeInterval: .seconds(health.interval),
            startInterval: .seconds(health.startInterval), probeTimeout: .seconds(health.timeout),
            retries: health.retries, startPeriod: .seconds(health.startPeriod),
            backoff: ExponentialBackoff(settings: restart), maxRetries: restart.maxRetries,
            resetAfter: .seconds(restart.resetAfter), logRotation: LogRotation(settings: config.logs),
            stopGrace: stopGrace)
    }
}
