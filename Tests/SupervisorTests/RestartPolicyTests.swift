import OrchestratorCore
import Supervisor
import TestSupport
import Testing

/// Policies, backoff math and the restart tracker, driven by a manual clock: nothing here sleeps.
struct RestartPolicyTests {
    @Test func registriesHoldTheBuiltInNames() throws {
        #expect(Registry<any RestartPolicy>.standardRestartPolicies.names == BuiltInNames.restartPolicies)
        #expect(Registry<any HealthChecker>.standardHealthCheckers.names == BuiltInNames.healthCheckers)
        #expect(throws: RegistryError.self) {
            try Registry<any RestartPolicy>.standardRestartPolicies.lookup("allways")
        }
        do {
            _ = try Registry<any RestartPolicy>.standardRestartPolicies.lookup("allways")
        } catch {
            #expect(error.description.contains("did you mean 'always'"))
        }
    }

    @Test func policiesDecideByTheEnding() throws {
        let policies = Registry<any RestartPolicy>.standardRestartPolicies
        let endings: [RunEnding] = [
            .exited(status: 0), .exited(status: 1), .signaled(9), .unhealthy(reason: "x"), .launchFailed(reason: "y"),
            .stoppedByUser,
        ]
        func decisions(_ name: String) throws -> [Bool] {
            let policy = try policies.lookup(name)
            return endings.map { policy.restarts(after: $0) }
        }
        #expect(try decisions("never") == [false, false, false, false, false, false])
        #expect(try decisions("on-failure") == [false, true, true, true, true, false])
        #expect(try decisions("always") == [true, true, true, true, true, false])
        #expect(try decisions("unless-stopped") == [true, true, true, true, true, false])
        #expect(try policies.lookup("always").startsWithDaemon(desiredState: .stopped))
        #expect(try !policies.lookup("unless-stopped").startsWithDaemon(desiredState: .stopped))
        #expect(try policies.lookup("unless-stopped").startsWithDaemon(desiredState: .running))
        #expect(try !policies.lookup("never").startsWithDaemon(desiredState: .stopped))
    }

    @Test func backoffGrowsGeometricallyUpToTheCap() {
        let backoff = ExponentialBackoff(initialDelay: 1, multiplier: 2, maxDelay: 10, jitter: 0)
        #expect((1...6).map { backoff.baseDelay(forRestart: $0) } == [1, 2, 4, 8, 10, 10])
        #expect(backoff.delay(forRestart: 3, sample: 0.9) == .seconds(4))
        // A huge restart number neither overflows nor exceeds the cap.
        #expect(backoff.baseDelay(forRestart: 100_000) == 10)
        // Multiplier 1 is a constant delay.
        let constant = ExponentialBackoff(initialDelay: 0.5, multiplier: 1, maxDelay: 300, jitter: 0)
        #expect((1...4).map { constant.baseDelay(forRestart: $0) } == [0.5, 0.5, 0.5, 0.5])
    }

    @Test func jitterSpreadsWithinItsFractionAndNeverPastTheCap() {
        let backoff = ExponentialBackoff(initialDelay: 1, multiplier: 2, maxDelay: 5, jitter: 0.5)
        #expect(backoff.delay(forRestart: 2, sample: 0) == .seconds(1))  // 2 − 50 %
        #expect(backoff.delay(forRestart: 2, sample: 0.5) == .seconds(2))
        #expect(backoff.delay(forRestart: 2, sample: 0.999_999) < .seconds(3.000_001))
        #expect(backoff.delay(forRestart: 2, sample: 0.999_999) > .seconds(2.999))
        // At the cap, jitter only shortens.
        #expect(backoff.delay(forRestart: 10, sample: 0.99) == .seconds(5))
        #expect(backoff.delay(forRestart: 10, sample: 0) == .seconds(2.5))
    }

    private func tracker(
        _ policy: any RestartPolicy = OnFailureRestartPolicy(), maxRetries: Int = 3, resetAfter: Duration = .seconds(10)
    ) -> RestartTracker<ManualClock> {
        RestartTracker(
            policy: policy, backoff: ExponentialBackoff(initialDelay: 1, multiplier: 2, maxDelay: 60, jitter: 0),
            maxRetries: maxRetries, resetAfter: resetAfter, sample: { 0.5 })
    }

    @Test func trackerBacksOffThenFailsAfterMaxRetries() {
        let clock = ManualClock()
        var restarts = tracker(maxRetries: 3)
        var decisions: [RestartDecision] = []
        for _ in 0..<4 {
            clock.advance(by: .seconds(1))
            decisions.append(restarts.runEnded(.signaled(9), at: clock.now))
        }
        #expect(
            decisions.prefix(3) == [
                .restart(after: .seconds(1), attempt: 1), .restart(after: .seconds(2), attempt: 2),
                .restart(after: .seconds(4), attempt: 3),
            ])
        guard case .fail(let reason) = decisions[3] else {
            Issue.record("expected a failure, got \(decisions[3])")
            return
        }
        #expect(reason.contains("gave up after 3 restarts"))
        #expect(reason.contains("killed by signal 9"))
        // The user's `up` starts the count over.
        restarts.reset()
        let decision1 = restarts.runEnded(.exited(status: 2), at: clock.now)
        #expect(decision1 == .restart(after: .seconds(1), attempt: 1))
    }

    @Test func stableRunningResetsTheBackoff() {
        let clock = ManualClock()
        var restarts = tracker(maxRetries: 10, resetAfter: .seconds(10))
        let decision2 = restarts.runEnded(.signaled(9), at: clock.now)
        #expect(decision2 == .restart(after: .seconds(1), attempt: 1))
        let decision3 = restarts.runEnded(.signaled(9), at: clock.now)
        #expect(decision3 == .restart(after: .seconds(2), attempt: 2))
        // Healthy for 9 s: not enough.
        restarts.runIsHealthy(at: clock.now)
        clock.advance(by: .seconds(9))
        let reset = restarts.resetIfStable(at: clock.now)
        #expect(!reset)
        let decision4 = restarts.runEnded(.signaled(9), at: clock.now)
        #expect(decision4 == .restart(after: .seconds(4), attempt: 3))
        // Healthy for 10 s: the next restart is the first again.
        restarts.runIsHealthy(at: clock.now)
        clock.advance(by: .seconds(10))
        let decision5 = restarts.runEnded(.signaled(9), at: clock.now)
        #expect(decision5 == .restart(after: .seconds(1), attempt: 1))
        // Running while unhealthy is not stable running.
        restarts.runIsHealthy(at: clock.now)
        restarts.runIsUnhealthy()
        clock.advance(by: .seconds(60))
        let decision6 = restarts.runEnded(.unhealthy(reason: "x"), at: clock.now)
        #expect(decision6 == .restart(after: .seconds(2), attempt: 2))
    }

    @Test func policiesThatDontRestartStopOrFail() {
        let clock = ManualClock()
        var onFailure = tracker()
        let decision7 = onFailure.runEnded(.exited(status: 0), at: clock.now)
        #expect(decision7 == .stop(reason: "exited with status 0"))
        let decision8 = onFailure.runEnded(.stoppedByUser, at: clock.now)
        #expect(decision8 == .stop(reason: "stopped by the user"))
        var never = tracker(NeverRestartPolicy())
        guard case .fail = never.runEnded(.exited(status: 1), at: clock.now) else {
            Issue.record("a crash under `never` should fail the instance")
            return
        }
        var always = tracker(AlwaysRestartPolicy())
        let decision9 = always.runEnded(.exited(status: 0), at: clock.now)
        #expect(decision9 == .restart(after: .seconds(1), attempt: 1))
        var none = tracker(maxRetries: 0)
        guard case .fail = none.runEnded(.exited(status: 1), at: clock.now) else {
            Issue.record("max_retries 0 should fail at the first crash")
            return
        }
    }

    @Test func manualClockWakesSleepersOnlyWhenAdvanced() async throws {
        let clock = ManualClock()
        let woke = Task {
            try await clock.sleep(for: .seconds(5))
            return clock.now
        }
        #expect(await clock.waitForSleepers(1))
        clock.advance(by: .seconds(4))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        #expect(try await woke.value == ManualClock.Instant(offset: .seconds(5)))
        // A cancelled sleeper wakes at once.
        let cancelled = Task { try await clock.sleep(for: .seconds(100)) }
        #expect(await clock.waitForSleepers(1))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(clock.sleeperCount == 0)
    }
}
