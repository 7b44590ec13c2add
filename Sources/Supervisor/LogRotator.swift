import Foundation
import Host

/// Looks at the logs of every running server from one thread: a daemon with fifty instances wakes once per
/// check interval for all of them, not fifty times.
///
/// A supervisor registers its server's logs while the server runs (`watch`) and takes them off when it ends
/// (`unwatch`); the daemon registers a check of its own `daemon.log` (`watch(every:_:)`). The thread checks at
/// the shortest interval any registration asks for and sleeps while nothing is registered. A check looks at the
/// sizes of the logs (a `stat` each). Rotation (a copy, then a truncation) runs on that thread, so it never holds
/// up a supervisor, a probe or the server, which keeps appending to its files.
public final class LogRotator: @unchecked Sendable {
    /// The daemon's rotator.
    public static let shared = LogRotator()

    private struct Registration {
        var check: @Sendable (_ cancelled: () -> Bool) -> Void
        var interval: Duration
    }

    private let condition = MonotonicCondition()
    private var registrations: [UInt64: Registration] = [:]
    private var nextID: UInt64 = 0
    private var started = false
    /// The registration whose check runs now (outside the lock), so that `unwatch` can wait for it to end.
    private var checking: UInt64?

    init() {}

    /// Checks `logs` every `interval` (or more often) until `unwatch` with the returned id. A rotation that
    /// fails goes to `onFailure` (the log's path and why) once, and again only after one has worked in between.
    public func watch(
        _ logs: InstanceLogs, rotation: LogRotation, every interval: Duration,
        onFailure: @escaping @Sendable (_ path: String, _ reason: String) -> Void = { _, _ in }
    ) -> UInt64 {
        let reports = ReportOnce()
        return watch(every: interval) { cancelled in
            for (path, outcome) in logs.rotateIfNeeded(rotation, cancelled: cancelled) {
                switch outcome {
                case .rotated: reports.succeeded(path)
                case .cancelled: break
                case .failed(let reason): if reports.failed(path) { onFailure(path, reason) }
                }
            }
        }
    }

    /// Runs `check` (which rotates a log of its own when it has grown) every `interval` or more often, on the
    /// rotation thread, until `unwatch` with the returned id. `check` is handed a function that says whether
    /// `unwatch` has been called since it began: a long copy should stop then.
    public func watch(
        every interval: Duration, _ check: @escaping @Sendable (_ cancelled: () -> Bool) -> Void
    )
        -> UInt64
    {
        condition.lock()
        defer { condition.unlock() }
        nextID += 1
        registrations[nextID] = Registration(check: check, interval: interval)
        if !started {
            started = true
            Thread.start(named: "orch logs") { [self] in run() }
        }
        // A shorter interval than the thread sleeps by now takes effect at once (broadcast: an `unwatch` may be
        // waiting on the same condition).
        condition.broadcast()
        return nextID
    }

    /// Stops checking the logs registered under `id`; returns once no check of them runs, so nothing touches
    /// those logs afterwards. A rotation of them under way stops at its next chunk (64 KiB) rather than
    /// finishing its copy, so this never waits long, and never for another registration's rotation.
    public func unwatch(_ id: UInt64) {
        condition.lock()
        registrations.removeValue(forKey: id)
        while checking == id { condition.wait() }
        condition.unlock()
    }

    private func run() {
        condition.lock()
        // When the next pass is due; a registration can bring it forward, never push it back (servers that
        // restart more often than the interval must not keep every check from running).
        var due: ContinuousClock.Instant?
        while true {
            while registrations.isEmpty {
                due = nil
                condition.wait()
            }
            let interval = registrations.values.lazy.map(\.interval).min() ?? .seconds(1)
            let soonest = ContinuousClock.now.advanced(by: max(interval, .milliseconds(1)))
            let next = min(due ?? soonest, soonest)
            due = next
            // Signalled (a new registration) or woken early: look again at what is due.
            if condition.wait(until: next) || ContinuousClock.now < next { continue }
            due = nil
            for id in registrations.keys.sorted() {
                // Each one still registered when its turn comes; `unwatch` may run while the lock is free.
                guard let registration = registrations[id] else { continue }
                checking = id
                condition.unlock()
                registration.check { [self] in condition.withLock { registrations[id] == nil } }
                condition.lock()
                checking = nil
                condition.broadcast()
            }
        }
    }
}
