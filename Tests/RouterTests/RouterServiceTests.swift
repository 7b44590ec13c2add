import Foundation
import Logging
import OrchestratorCore
import Router
import Testing

/// `RouterService` against a daemon kept in memory: the actor's own interleavings, which the daemon-level tests only
/// meet by chance.
struct RouterServiceTests {
    /// Instances as the router sees them: one fits at a time; starting and stopping change what `currentStates`
    /// says. A test can hold the next `currentStates` after it read the states, as a slow read of the configs would.
    actor FakeDaemon: RouterBackend {
        let models: [RoutableModel]
        private(set) var running: Set<String> = []
        private(set) var statesRead = false
        private var holdNext = false
        private var held: CheckedContinuation<Void, Never>?

        init(_ names: [String]) {
            models = names.enumerated().map { RoutableModel(name: $1, port: 40_000 + $0) }
        }

        func holdNextStates() {
            holdNext = true
            statesRead = false
        }

        func releaseStates() {
            held?.resume()
            held = nil
        }

        func routableModels() async -> [RoutableModel] { models }

        func currentStates() async -> [String: LoadScheduler.Observed] {
            var states: [String: LoadScheduler.Observed] = [:]
            for model in models {
                states[model.name] = running.contains(model.name) ? .healthy(.router) : .stopped
            }
            if holdNext {
                holdNext = false
                statesRead = true
                await withCheckedContinuation { held = $0 }
            }
            return states
        }

        func capacity(for models: [String]) async -> LoadScheduler.Fits {
            { _, resident in resident.isEmpty }
        }

        func startForRouter(_ name: String) async throws { running.insert(name) }

        func stopForRouter(_ name: String, reason: LoadScheduler.UnloadReason) async { running.remove(name) }

        func record(_ request: RouterRequestRecord) async {}
    }

    /// A router over `a` and `b`, of which one fits at a time, with its list read.
    static func twoModels() async -> (FakeDaemon, RouterService) {
        let daemon = FakeDaemon(["a", "b"])
        let service = RouterService(
            backend: daemon, limits: LoadScheduler.Limits(queueLimit: 10, queueTimeout: .seconds(30)),
            logger: Logger(label: "test"))
        await service.refresh()
        return (daemon, service)
    }

    /// One request for `name`, served and ended.
    static func serve(_ service: RouterService, _ daemon: FakeDaemon, _ name: String) async throws {
        let model = try #require(await daemon.models.first { $0.name == name })
        switch await service.admit(model) {
        case .granted(let lease): await service.release(lease)
        case .queued(let id): await service.release(try await service.wait(id))
        case .rejected(let error): throw error
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func aRefreshThatReadTheStatesBeforeAnEvictionDoesNotBringTheEvictedBack() async throws {
        let (daemon, service) = await Self.twoModels()
        try await Self.serve(service, daemon, "a")
        #expect(await service.status(named: "a")?.phase == .loaded)

        // A refresh reads the states (a running) and is held; meanwhile b is asked for and evicts a.
        await daemon.holdNextStates()
        let refreshing = Task { await service.refresh() }
        for _ in 0..<1000 where !(await daemon.statesRead) { try await Task.sleep(for: .milliseconds(5)) }
        #expect(await daemon.statesRead, "the refresh never read the states")
        try await Self.serve(service, daemon, "b")
        #expect(await daemon.running == ["b"])

        // The refresh ends with what it read before the eviction: a is not loaded again.
        await daemon.releaseStates()
        await refreshing.value
        #expect(await service.status(named: "a")?.phase == .unloaded)
        #expect(await service.status(named: "b")?.phase == .loaded)
    }

    /// The supervisor's transitions reach the router through a stream: an evicted instance's `healthy`, from when it
    /// started, may arrive after the router evicted it. Applied, it would make the instance loaded again and send
    /// requests to a server that is gone (the 1,000-request soak test saw bursts of 502s).
    @Test(.timeLimit(.minutes(1)))
    func aTransitionOlderThanTheRoutersOwnChangeIsPassedOver() async throws {
        let (daemon, service) = await Self.twoModels()
        let started = Date().timeIntervalSince1970
        try await Self.serve(service, daemon, "a")
        try await Self.serve(service, daemon, "b")
        #expect(await daemon.running == ["b"], "b evicted a")

        await service.observe("a", .starting(.router), at: started)
        await service.observe("a", .healthy(.router), at: started)
        #expect(await service.status(named: "a")?.phase == .unloaded, "a's start, told late, is passed over")

        // A start after the eviction (someone's `up`) is news.
        await service.observe("a", .healthy(.user), at: Date().timeIntervalSince1970 + 1)
        #expect(await service.status(named: "a")?.phase == .loaded)
    }
}
