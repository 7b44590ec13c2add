import OrchestratorCore

/// `never`: a server that ends stays down (stopped after a clean exit, failed otherwise).
public struct NeverRestartPolicy: RestartPolicy {
    public init() {}
    public func restarts(after ending: RunEnding) -> Bool { false }
}

/// `on-failure`: restarts after a non-zero exit, a signal, an unhealthy verdict or a failed start; a clean
/// exit (status 0) stays stopped.
public struct OnFailureRestartPolicy: RestartPolicy {
    public init() {}
    public func restarts(after ending: RunEnding) -> Bool { ending.isFailure }
}

/// `always`: restarts after any ending but a user's stop, and is started whenever the daemon starts, even if
/// the user had stopped it (Docker's `always`).
public struct AlwaysRestartPolicy: RestartPolicy {
    public init() {}
    public func restarts(after ending: RunEnding) -> Bool { ending != .stoppedByUser }
    public func startsWithDaemon(desiredState: DesiredState) -> Bool { true }
}

/// `unless-stopped`: like `always`, but an instance the user stopped stays stopped when the daemon starts.
public struct UnlessStoppedRestartPolicy: RestartPolicy {
    public init() {}
    public func restarts(after ending: RunEnding) -> Bool { ending != .stoppedByUser }
}
