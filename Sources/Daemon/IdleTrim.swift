import Foundation
import Host
import Supervisor

/// Gives back the heap a burst of work left behind once the daemon has been quiet for a while.
///
/// Starting fifty servers, answering `up` and `ps`, or writing events allocates memory (placement, JSON, SQLite's
/// page cache) that supervising running servers never needs again, and malloc keeps what was freed. After
/// `quietFor` without a control request or a state change, the daemon asks SQLite to release its caches and
/// malloc to return its free pages (`ProcessMemory.trimMalloc`).
///
/// The first activity after a trim starts a task that sleeps until the daemon has been
/// quiet long enough, trims and ends: an idle daemon has no timer for it.
public final class IdleTrim: @unchecked Sendable {
    /// How long the daemon must be quiet before a trim.
    public let quietFor: Duration
    private let release: @Sendable () -> Void
    private let lock = NSLock()
    private var lastActivity: ContinuousClock.Instant
    /// Activity since the last trim (a trim after the daemon starts, too).
    private var pending = true
    private let automatic: Bool
    /// Whether a task waits to trim.
    private var scheduled = false

    /// - Parameters:
    ///   - automatic: whether activity schedules the trim itself (tests that drive `trimIfQuiet` say no).
    ///   - release: what a trim does (the daemon frees SQLite's caches and trims malloc).
    public init(
        quietFor: Duration = .seconds(3), automatic: Bool = true, release: @escaping @Sendable () -> Void
    ) {
        self.quietFor = quietFor
        self.automatic = automatic
        self.release = release
        lastActivity = ContinuousClock.now
    }

    /// Something happened (a control request, a state change): a trim follows once it has been quiet again.
    public func noteActivity(at now: ContinuousClock.Instant = .now) {
        let start = lock.withLock {
            lastActivity = max(lastActivity, now)
            pending = true
            defer { scheduled = scheduled || automatic }
            return automatic && !scheduled
        }
        if start { Task.detached { await self.trimWhenQuiet() } }
    }

    /// Sleeps until the daemon has been quiet for `quietFor`, trims, and ends.
    private func trimWhenQuiet() async {
        while true {
            let quietAt = lock.withLock { lastActivity.advanced(by: quietFor) }
            try? await Task.sleep(until: quietAt)
            let done = lock.withLock { () -> Bool in
                guard lastActivity.advanced(by: quietFor) <= ContinuousClock.now else { return false }
                scheduled = false
                return true
            }
            if done {
                trimIfQuiet()
                return
            }
        }
    }

    /// Trims when there was activity and none for `quietFor`; returns whether it did.
    @discardableResult
    public func trimIfQuiet(at now: ContinuousClock.Instant = .now) -> Bool {
        let due = lock.withLock {
            guard pending, lastActivity.duration(to: now) >= quietFor else { return false }
            pending = false
            return true
        }
        if due { release() }
        return due
    }
}
