#if canImport(Glibc)
    import Glibc
#endif

/// Stops a whole process group the way well-behaved supervisors do: SIGTERM once, SIGCONT (a stopped process
/// can't act on SIGTERM), wait the grace period, then SIGKILL the group. Returns only when no living member is
/// left (zombies waiting for their parent don't count: they hold no port, memory or GPU).
///
/// The waits run on the real continuous clock, whatever clock the caller supervises with: processes exit in
/// real time. They also run to the end when the calling task is cancelled, so a cancelled stop still leaves
/// nothing behind.
public enum ProcessGroupTerminator {
    /// How often the group is looked at while waiting.
    static let pollInterval: Duration = .milliseconds(20)
    /// How long to wait after SIGKILL before giving up (a process stuck in the kernel, `D` state).
    static let killWait: Duration = .seconds(10)

    /// Stops every process of `group`; `grace` is how long the group may take to exit after SIGTERM.
    public static func stop(group: Int32, grace: Duration) async {
        guard group > 1 else { return }
        await Task.detached {
            guard signal(group, SIGTERM) else { return }
            _ = signal(group, SIGCONT)
            if await waitUntilEmpty(group: group, within: grace) { return }
            _ = signal(group, SIGKILL)
            _ = await waitUntilEmpty(group: group, within: killWait)
        }.value
    }

    /// SIGKILLs every process of `group` and waits until none is left.
    public static func killNow(group: Int32) async {
        guard group > 1, isAlive(group: group) else { return }
        await Task.detached {
            guard signal(group, SIGKILL) else { return }
            _ = await waitUntilEmpty(group: group, within: killWait)
        }.value
    }

    /// Signals the group only while it has a living member.
    ///
    /// Linux keeps a pid number reserved while any process still uses it as its group id, so a group with
    /// members is ours; an empty group's number may already belong to a stranger's new group.
    private static func signal(_ group: Int32, _ signal: Int32) -> Bool {
        guard isAlive(group: group) else { return false }
        kill(-group, signal)
        return true
    }

    /// Whether any process of `group` is alive.
    ///
    /// `kill(-group, 0)` answers "no such process" at once for an empty group (the common case: a server
    /// that forked nothing, already reaped); only a group with members is scanned for zombies in `/proc`.
    /// While the leader itself lives (the server, most of a stop's wait) one look at it answers, so a stop
    /// doesn't read all of `/proc` every 20 ms.
    public static func isAlive(group: Int32) -> Bool {
        if kill(-group, 0) != 0 && errno == ESRCH { return false }
        if let leader = ProcFS.stat(group), leader.processGroup == group, leader.state != "Z", leader.state != "X" {
            return true
        }
        return !ProcFS.livingMembers(ofGroup: group).isEmpty
    }

    /// Waits until the group has no living member; returns whether that happened within `limit`.
    static func waitUntilEmpty(group: Int32, within limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while isAlive(group: group) {
            if clock.now >= deadline { return false }
            try? await clock.sleep(for: pollInterval)
        }
        return true
    }
}
