import Foundation

/// The continuous clock, with sleeps that allow a tolerance fired together from one timer thread.
///
/// A daemon with fifty instances probes each every ten seconds: with a timer per probe it wakes fifty times
/// per interval, and every wake-up costs more thread switches than the probe itself. A sleep with a
/// tolerance (a probe may come a little late) is never resumed early, and at most `tolerance` late; when the
/// timer fires for one sleeper, every sleeper already due goes with it, so the probes of many instances run in
/// a handful of batches. A sleep without a tolerance (backoff delays, the start-up probes) is an exact
/// `ContinuousClock` sleep.
public struct CoalescingClock: Clock {
    public typealias Instant = ContinuousClock.Instant
    public typealias Duration = Swift.Duration

    public init() {}

    public var now: Instant { ContinuousClock.now }
    public var minimumResolution: Duration { ContinuousClock().minimumResolution }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        guard let tolerance, tolerance >= .milliseconds(1) else {
            try await ContinuousClock().sleep(until: deadline, tolerance: tolerance)
            return
        }
        try await CoalescingTimer.shared.sleep(until: deadline, latest: deadline.advanced(by: tolerance))
    }
}

/// The timer thread behind `CoalescingClock`: one thread, one timed wait for every sleeper.
final class CoalescingTimer: @unchecked Sendable {
    static let shared = CoalescingTimer()

    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var latest: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let condition = MonotonicCondition()
    private var sleepers: [UInt64: Sleeper] = [:]
    private var nextID: UInt64 = 0
    private var started = false

    /// Returns at or after `deadline`, and by `latest` (give or take the scheduler); throws `CancellationError`
    /// when the task is cancelled first.
    func sleep(until deadline: ContinuousClock.Instant, latest: ContinuousClock.Instant) async throws {
        let id = condition.withLock {
            nextID += 1
            return nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                condition.lock()
                defer { condition.unlock() }
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                sleepers[id] = Sleeper(deadline: deadline, latest: latest, continuation: continuation)
                if !started {
                    started = true
                    Thread.start(named: "orch timers") { [self] in run() }
                }
                condition.signal()
            }
        } onCancel: {
            condition.lock()
            let sleeper = sleepers.removeValue(forKey: id)
            condition.unlock()
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    private func run() {
        condition.lock()
        while true {
            guard let wake = sleepers.values.map(\.latest).min() else {
                condition.wait()
                continue
            }
            if ContinuousClock.now < wake {
                // Signalled (a new sleeper) or timed out: either way, look again.
                condition.wait(until: wake)
                continue
            }
            // The earliest sleeper's time is up: it goes, and with it every sleeper already due.
            let now = ContinuousClock.now
            let due = sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { sleepers.removeValue(forKey: id) }
            condition.unlock()
            for sleeper in due.values { sleeper.continuation.resume() }
            condition.lock()
        }
    }
}
