import ControlAPI
import Foundation
import Host
import Logging
import OrchestratorCore
import Router
import Scheduler
import StateStore
import Supervisor
import Synchronization

/// What the router asks of the daemon: the routable configs, the supervisors' states, memory, starts and stops.
extension InstanceManager: RouterBackend {
    /// The project file's settings; defaults when it is missing or invalid (the daemon warned at start).
    var projectSettings: ProjectSettings {
        ProjectSettings.load(root: root).settings ?? ProjectSettings()
    }

    public func routableModels() async -> [RoutableModel] {
        let idleTTL = projectSettings.router.idleTTL
        return validator.validateAll(in: root).compactMap(\.config).map {
            RoutableModel(config: $0, defaultIdleTTL: idleTTL)
        }
    }

    public func currentStates() async -> [String: LoadScheduler.Observed] {
        var states: [String: LoadScheduler.Observed] = [:]
        for (name, entry) in entries {
            let state = await entry.supervisor.state
            let reason = lastTransitions.withValue { $0[name]?.reason } ?? state.rawValue
            states[name] = RouterLink.observed(state, reason: reason, owner: routerLink.owner(of: name))
        }
        return states
    }

    public func capacity(for models: [String]) async -> LoadScheduler.Fits {
        let capacity = await routerCapacity(for: Set(models))
        return { model, resident in capacity.fits(model, resident: resident) }
    }

    /// The placer's view of memory for `models`, with the instances that run now holding theirs.
    func routerCapacity(for models: Set<String>) async -> RouterCapacity {
        let configs = validator.validateAll(in: root).compactMap(\.config).filter { models.contains($0.name) }
        let groups = Dictionary(grouping: configs) { "\($0.gpu.backend)|\($0.binary.resolvedPath ?? "")" }
        var rounds: [PlanningRound.Prepared] = []
        for key in groups.keys.sorted() {
            guard let group = groups[key] else { continue }
            do {
                rounds.append(try await PlanningRound(configs: group, root: root, environment: environment).prepare())
            } catch {
                logger.warning("router: cannot plan \(group.map(\.name).joined(separator: ", ")): \(error)")
            }
        }
        var running: [String: HeldPlacement] = [:]
        for run in (try? store.openRuns()) ?? [] {
            if let placement = run.placement {
                running[run.instance] = HeldPlacement(placement: placement, measured: run.measured)
            }
        }
        for (name, entry) in entries {
            if let pending = entry.pendingPlacement { running[name] = HeldPlacement(placement: pending) }
        }
        return RouterCapacity(rounds: rounds, running: running)
    }

    /// Records who started an instance, here and in the store (a restarted daemon re-adopts it as the router's).
    func markStarted(_ name: String, byRouter: Bool) {
        guard routerLink.owner(of: name) != (byRouter ? .router : .user) else { return }
        routerLink.setStarted(name, byRouter)
        do {
            try store.setStartedByRouter(byRouter, for: name)
        } catch {
            logger.warning("\(name): cannot record who started it: \(error)")
        }
    }

    /// After re-adoption: the instances the router had started are its again. One whose server ended while no
    /// daemon watched is stopped for good (a request starts it again), whatever its restart policy.
    func restoreRouterOwnership() {
        let recorded = (try? store.startedByRouter()) ?? []
        for name in recorded.sorted() {
            if entries[name] != nil {
                routerLink.setStarted(name, true)
            } else {
                try? store.setDesiredState(.stopped, for: name)
                try? store.setStartedByRouter(false, for: name)
            }
        }
    }

    public func startForRouter(_ name: String) async throws {
        markStarted(name, byRouter: true)
        // An evicted server's memory takes a moment to come back (ollama polls up to 5 s): wait for the model to
        // fit as planned, then start it anyway (the start's own placement decides).
        let deadline = ContinuousClock.now + Self.memoryWait
        while ContinuousClock.now < deadline {
            let capacity = await routerCapacity(for: [name])
            let resident = Set(((try? store.openRuns()) ?? []).map(\.instance))
            if capacity.fits(name, resident: resident.subtracting([name])) { break }
            try? await Task.sleep(for: .milliseconds(250))
        }
        let response = try await up(InstancesRequest(names: [name]), byRouter: true)
        guard let outcome = response.outcomes.first else { throw RouterStartError(message: "no outcome") }
        if outcome.result == .failed {
            markStarted(name, byRouter: false)
            throw RouterStartError(message: outcome.message)
        }
        // A start queued behind another on its device (or already queued) has its turn first.
        if outcome.result == .queued || outcome.result == .unchanged, let start = entries[name]?.start {
            let turn = await start.result
            guard turn.result == .started || turn.result == .unchanged else {
                markStarted(name, byRouter: false)
                throw RouterStartError(message: turn.message)
            }
        }
        record(name, "router-started", "started for a request: \(outcome.message)")
        guard let supervisor = entries[name]?.supervisor else {
            throw RouterStartError(message: "stopped while starting")
        }
        await supervisor.waitForState([.healthy, .failed, .stopped])
        let state = await supervisor.state
        guard state == .healthy else {
            let reason = lastTransitions.withValue { $0[name]?.reason } ?? state.rawValue
            throw RouterStartError(message: "\(state.rawValue): \(reason)")
        }
    }

    public func stopForRouter(_ name: String, reason: LoadScheduler.UnloadReason) async {
        guard routerLink.owner(of: name) == .router else { return }
        let why =
            reason == .idle ? "unloaded by the router after its idle TTL" : "evicted by the router for another model"
        _ = try? await down(InstancesRequest(names: [name]), reason: why)
        markStarted(name, byRouter: false)
        record(name, "router-unloaded", why)
    }

    public func record(_ request: RouterRequestRecord) async {
        requestLog.append(request)
    }

    /// How long a router start waits for an evicted server's memory to come back.
    static let memoryWait: Duration = .seconds(5)
}

/// A router start that failed, as the request that caused it is told.
struct RouterStartError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The daemon's link to its router: which instances the router started, and the supervisors' transitions passed
/// on in order.
public final class RouterLink: Sendable {
    private struct State {
        var service: RouterService?
        var started: Set<String> = []
    }
    private let state = Mutex(State())
    private let transitions: AsyncStream<InstanceTransition>.Continuation

    init() {
        let (stream, continuation) = AsyncStream<InstanceTransition>.makeStream()
        transitions = continuation
        Task { [weak self] in
            for await transition in stream {
                guard let self else { return }
                let (service, owner) = self.state.withLock { ($0.service, $0.started.contains(transition.instance)) }
                guard let service else { continue }
                await service.observe(
                    transition.instance,
                    Self.observed(transition.to, reason: transition.reason, owner: owner ? .router : .user),
                    at: transition.time)
            }
        }
    }

    /// Connects the router: transitions from now on reach it.
    public func attach(_ service: RouterService) {
        state.withLock { $0.service = service }
    }

    func setStarted(_ name: String, _ started: Bool) {
        state.withLock {
            if started { $0.started.insert(name) } else { $0.started.remove(name) }
        }
    }

    /// Who started a running instance.
    func owner(of name: String) -> LoadScheduler.Owner {
        state.withLock { $0.started.contains(name) } ? .router : .user
    }

    /// The router that serves, if any.
    var service: RouterService? { state.withLock { $0.service } }

    func send(_ transition: InstanceTransition) {
        transitions.yield(transition)
    }

    static func observed(_ state: InstanceState, reason: String, owner: LoadScheduler.Owner) -> LoadScheduler.Observed {
        switch state {
        case .starting, .loading, .restarting, .unhealthy: .starting(owner)
        case .healthy: .healthy(owner)
        case .stopped: .stopped
        case .failed: .failed(reason)
        }
    }
}
