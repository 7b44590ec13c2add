/// Decides whether a server that ended is started again; `restart_policy.type` names one in the registry
/// the entry point builds (`never`, `on-failure`, `always`, `unless-stopped`).
///
/// A policy only answers "again or not". How long to wait (exponential backoff) and when to give up
/// (`max_retries`) are the same for every policy and live in the supervisor's restart tracker.
public protocol RestartPolicy: Sendable {
    /// Whether a run that ended this way should be followed by another start, `max_retries` aside.
    ///
    /// A stop the user asked for is never restarted, whatever this returns.
    func restarts(after ending: RunEnding) -> Bool

    /// Whether the daemon starts the instance when the daemon itself starts (at boot, after an upgrade).
    func startsWithDaemon(desiredState: DesiredState) -> Bool
}

extension RestartPolicy {
    /// By default the daemon brings back what the user last asked to be running.
    public func startsWithDaemon(desiredState: DesiredState) -> Bool { desiredState == .running }
}
