import OrchestratorCore

/// What the supervisor does after a run ended.
public enum RestartDecision: Sendable, Equatable {
    /// Start again after `delay`; `attempt` counts restarts since the last reset (1 for the first).
    case restart(after: Duration, attempt: Int)
    /// Stay down, on purpose (user's stop, clean exit under `on-failure`).
    case stop(reason: String)
    /// Stay down, given up on, until the user's `up` or `restart`.
    case fail(reason: String)
}

/// Counts restarts of one instance and decides each one: the policy says whether, the backoff says when,
/// `max_retries` says when to give up, and `reset_after` seconds of stable running start the count over.
///
/// "Stable" means healthy: the time counts from the first passing probe of the run. The tracker reads no
/// clock; callers pass instants of the supervisor's injected clock, so tests drive it with a manual clock.
public struct RestartTracker<C: Clock>: Sendable where C.Duration == Duration {
    /// Whether to restart at all, by how the run ended.
    public let policy: any RestartPolicy
    /// The delay before each restart.
    public let backoff: ExponentialBackoff
    /// Restarts allowed in a row before the instance is failed.
    public let maxRetries: Int
    /// Stable running that sets the count back to 0.
    public let resetAfter: Duration
    /// Restarts since the last reset.
    public private(set) var restarts = 0
    private var stableSince: C.Instant?
    private let sample: @Sendable () -> Double

    /// - Parameter sample: the jitter source, uniform in `0..<1` (tests pass a constant).
    public init(
        policy: any RestartPolicy, backoff: ExponentialBackoff, maxRetries: Int, resetAfter: Duration,
        sample: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.policy = policy
        self.backoff = backoff
        self.maxRetries = max(0, maxRetries)
        self.resetAfter = resetAfter
        self.sample = sample
    }

    /// Builds the tracker from an instance's `restart_policy` settings and the policy they name.
    public init(
        policy: any RestartPolicy, settings: InstanceConfig.RestartPolicySettings,
        sample: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.init(
            policy: policy, backoff: ExponentialBackoff(settings: settings), maxRetries: settings.maxRetries,
            resetAfter: .seconds(settings.resetAfter), sample: sample)
    }

    /// Notes that the current run passed a probe at `now` (the start of stable running, if it is the first).
    public mutating func runIsHealthy(at now: C.Instant) {
        if stableSince == nil { stableSince = now }
    }

    /// Notes that the current run stopped being healthy: stable running starts over at the next pass.
    public mutating func runIsUnhealthy() {
        stableSince = nil
    }

    /// Sets the count back to 0 if the current run has been stable for `resetAfter` at `now`.
    ///
    /// - Returns: whether the count was reset by this call.
    @discardableResult
    public mutating func resetIfStable(at now: C.Instant) -> Bool {
        guard let since = stableSince, restarts > 0, since.duration(to: now) >= resetAfter else { return false }
        restarts = 0
        return true
    }

    /// Decides what follows a run that ended at `now`.
    public mutating func runEnded(_ ending: RunEnding, at now: C.Instant) -> RestartDecision {
        resetIfStable(at: now)
        stableSince = nil
        if ending == .stoppedByUser { return .stop(reason: "stopped by the user") }
        guard policy.restarts(after: ending) else {
            return ending.isFailure
                ? .fail(reason: "\(ending); the restart policy does not restart it")
                : .stop(reason: "\(ending)")
        }
        guard restarts < maxRetries else {
            return .fail(
                reason: "\(ending); gave up after \(maxRetries) restart\(maxRetries == 1 ? "" : "s") in a row "
                    + "(restart_policy.max_retries); run `up` or `restart` to try again")
        }
        restarts += 1
        return .restart(after: backoff.delay(forRestart: restarts, sample: sample()), attempt: restarts)
    }

    /// Forgets every restart (the user's `up` or `restart`), or resumes from a recorded count (a daemon that
    /// re-adopts a server keeps backing off where the previous one was).
    public mutating func reset(to count: Int = 0) {
        restarts = max(0, count)
        stableSince = nil
    }
}
