import Foundation
import Supervisor
import Testing

/// The daemon's clock: sleeps with a tolerance are never early, at most the tolerance late, and sleepers whose
/// windows overlap wake together.
@Suite(.serialized) struct CoalescingClockTests {
    let clock = CoalescingClock()

    @Test func aToleratedSleepIsNeverEarlyAndAtMostItsToleranceLate() async throws {
        for _ in 0..<5 {
            let deadline = clock.now.advanced(by: .milliseconds(30))
            try await clock.sleep(until: deadline, tolerance: .milliseconds(20))
            let woke = clock.now
            #expect(woke >= deadline)
            // The tolerance, and scheduling slack on a busy machine.
            #expect(woke < deadline.advanced(by: .milliseconds(20 + 50)), "woke \(deadline.duration(to: woke)) late")
        }
    }

    @Test func sleepersWhoseWindowsOverlapWakeTogether() async throws {
        let start = clock.now
        // The first may wake from 100 ms to 400 ms, the second from 150 ms to 450 ms: the first one's window
        // ends last-but-one, at 400 ms, when the second is due too, so both go then.
        async let first: ContinuousClock.Instant = {
            try await clock.sleep(until: start.advanced(by: .milliseconds(100)), tolerance: .milliseconds(300))
            return clock.now
        }()
        async let second: ContinuousClock.Instant = {
            try await clock.sleep(until: start.advanced(by: .milliseconds(150)), tolerance: .milliseconds(300))
            return clock.now
        }()
        let (a, b) = try await (first, second)
        #expect(a >= start.advanced(by: .milliseconds(100)))
        #expect(b >= start.advanced(by: .milliseconds(150)))
        #expect(abs((a - b) / .milliseconds(1)) < 30, "woke \(a - b) apart")
    }

    @Test func cancellingASleepEndsItAtOnce() async throws {
        let started = clock.now
        let sleeper = Task {
            try await clock.sleep(until: clock.now.advanced(by: .seconds(30)), tolerance: .seconds(1))
        }
        try await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(started.duration(to: clock.now) < .seconds(5))
    }

    @Test func aSleepWithoutToleranceIsExact() async throws {
        let deadline = clock.now.advanced(by: .milliseconds(20))
        try await clock.sleep(until: deadline, tolerance: nil)
        #expect(clock.now >= deadline)
        #expect(clock.now < deadline.advanced(by: .milliseconds(50)))
    }

    @Test func aTaskThatPrefersTheSupervisionThreadRunsThereBeforeAndAfterItsSleeps() async throws {
        let thread = SupervisionThread.shared
        #expect(!thread.isCurrent)
        let seen = await Task(executorPreference: thread) { () -> [Bool] in
            var seen = [thread.isCurrent]
            // A coalesced sleep (the timer runs on that thread) and an exact one (the global timer) both come back.
            try? await clock.sleep(until: clock.now.advanced(by: .milliseconds(20)), tolerance: .milliseconds(10))
            seen.append(thread.isCurrent)
            try? await clock.sleep(until: clock.now.advanced(by: .milliseconds(20)), tolerance: nil)
            seen.append(thread.isCurrent)
            return seen
        }.value
        #expect(seen == [true, true, true])
        #expect(!thread.isCurrent)
    }
}
