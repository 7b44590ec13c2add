import OrchestratorCore
import Testing

/// Kubernetes probe semantics, fed by hand: the start period, `retries` consecutive failures, 503 while loading.
struct HealthProbeTrackerTests {
    @Test func loadingCountsOnlyAgainstTheStartPeriod() {
        var tracker = HealthProbeTracker(retries: 2, startPeriod: .seconds(10))
        // Many 503s and refusals inside the start period: never unhealthy.
        #expect(tracker.record(.failed("connection refused"), sinceLaunch: .seconds(1)) == .starting)
        for second in 2...9 {
            #expect(tracker.record(.loading("503"), sinceLaunch: .seconds(second)) == .loading)
        }
        #expect(tracker.consecutiveFailures == 0)
        #expect(tracker.record(.healthy, sinceLaunch: .seconds(9.5)) == .healthy)
    }

    @Test func loadingPastTheStartPeriodCounts() {
        var tracker = HealthProbeTracker(retries: 2, startPeriod: .seconds(10))
        #expect(tracker.record(.loading("503"), sinceLaunch: .seconds(5)) == .loading)
        #expect(tracker.record(.loading("503"), sinceLaunch: .seconds(11)) == .loading)
        #expect(tracker.consecutiveFailures == 1)
        #expect(tracker.record(.loading("503"), sinceLaunch: .seconds(12)) == .unhealthy)
    }

    @Test func afterBeingHealthyTheStartPeriodNoLongerForgives() {
        var tracker = HealthProbeTracker(retries: 3, startPeriod: .seconds(60))
        tracker.record(.healthy, sinceLaunch: .seconds(1))
        #expect(tracker.record(.failed("timed out"), sinceLaunch: .seconds(2)) == .healthy)
        #expect(tracker.record(.failed("timed out"), sinceLaunch: .seconds(3)) == .healthy)
        // A pass in between starts the count over: failures must be consecutive.
        #expect(tracker.record(.healthy, sinceLaunch: .seconds(4)) == .healthy)
        #expect(tracker.record(.failed("timed out"), sinceLaunch: .seconds(5)) == .healthy)
        #expect(tracker.record(.failed("timed out"), sinceLaunch: .seconds(6)) == .healthy)
        #expect(tracker.record(.failed("timed out"), sinceLaunch: .seconds(7)) == .unhealthy)
    }
}
