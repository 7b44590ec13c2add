import Foundation
import Host
import Testing

@testable import Host

/// The timed waits of the probe timer and the log rotator: on the monotonic clock, woken by a signal.
@Suite struct MonotonicConditionTests {
    @Test func aTimedWaitEndsAtItsDeadlineOrWhenSignalled() async throws {
        let condition = MonotonicCondition()
        let began = ContinuousClock.now
        let woken = condition.withLock { condition.wait(until: began.advanced(by: .milliseconds(150))) }
        let waited = ContinuousClock.now - began
        #expect(!woken)
        #expect(waited >= .milliseconds(150) && waited < .seconds(2), "\(waited)")
        // A deadline already past: no wait at all.
        #expect(!condition.withLock { condition.wait(until: ContinuousClock.now.advanced(by: .milliseconds(-5))) })

        // Signalled from another thread long before a far deadline.
        final class Flag: @unchecked Sendable { var set = false }
        let flag = Flag()
        Thread.detachNewThread {
            usleep(100_000)
            condition.withLock {
                flag.set = true
                condition.signal()
            }
        }
        let signalledBegan = ContinuousClock.now
        condition.lock()
        while !flag.set { condition.wait(until: signalledBegan.advanced(by: .seconds(30))) }
        condition.unlock()
        #expect(ContinuousClock.now - signalledBegan < .seconds(5))
    }
}
