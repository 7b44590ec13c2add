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
        try await SupervisionThread.shared.sleep(until: deadline, latest: deadline.advanced(by: tolerance))
    }
}

/// The thread the health probes of every instance run on: the timer behind `CoalescingClock` and a task
/// executor in one.
///
/// Probe loops run here by task executor preference (`InstanceSupervisor` starts them so). When a batch of
/// probe timers fires, this thread resumes the sleepers and runs the probes itself, one after the other: a
/// probe is a few microseconds of work (a `/proc` read, or an HTTP exchange that `ProbeConnection` moves to
/// its waiter once it takes longer than half a millisecond). On the shared cooperative pool every batch woke a
/// worker thread, and since batches come seconds apart, the pool had let its idle workers go and started new
/// ones each time: thread creation and teardown cost more than the probes. Nothing that runs here may block
/// for long; a job that waits for another task suspends, as any async code does.
public final class SupervisionThread: TaskExecutor, @unchecked Sendable {
    /// The daemon's one such thread, started with the first sleep or job.
    public static let shared = SupervisionThread()

    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var latest: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let condition = MonotonicCondition()
    private var sleepers: [UInt64: Sleeper] = [:]
    private var jobs: [UnownedJob] = []
    private var nextID: UInt64 = 0
    private var started = false
    /// The thread once it runs, to tell whether code runs on it.
    private var thread: pthread_t?

    init() {}

    /// Whether the caller runs on this thread.
    public var isCurrent: Bool {
        guard let thread = condition.withLock({ self.thread }) else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        startIfNeeded()
        condition.signal()
        condition.unlock()
    }

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
                startIfNeeded()
                condition.signal()
            }
        } onCancel: {
            condition.lock()
            let sleeper = sleepers.removeValue(forKey: id)
            condition.unlock()
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Called with the lock held.
    private func startIfNeeded() {
        guard !started else { return }
        started = true
        Thread.start(named: "orch probes") { [self] in run() }
    }

    private func run() {
        condition.lock()
        thread = pthread_self()
        let executor = asUnownedTaskExecutor()
        var batch: [UnownedJob] = []
        while true {
            if !jobs.isEmpty {
                swap(&batch, &jobs)
                condition.unlock()
                for job in batch { job.runSynchronously(on: executor) }
                batch.removeAll(keepingCapacity: true)
                condition.lock()
                continue
            }
            guard let wake = sleepers.values.lazy.map(\.latest).min() else {
                condition.wait()
                continue
            }
            if ContinuousClock.now < wake {
                // Signalled (a new sleeper or job) or timed out: either way, look again.
                condition.wait(until: wake)
                continue
            }
            // The earliest sleeper's time is up: it goes, and with it every sleeper already due. Their tasks
            // come back to this thread as jobs (when they prefer it, as probe loops do).
            let now = ContinuousClock.now
            let due = sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { sleepers.removeValue(forKey: id) }
            condition.unlock()
            for sleeper in due.values { sleeper.continuation.resume() }
            condition.lock()
        }
    }
}
