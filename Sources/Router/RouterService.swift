import Foundation
import Logging
import NIOCore
import NIOPosix
import OrchestratorCore
import Synchronization

/// The one owner of the router's state: drives the `LoadScheduler` with events (requests, their ends, loads,
/// what the supervisor says, time) and carries out its effects through the `RouterBackend`.
public actor RouterService {
    public typealias RequestID = LoadScheduler.RequestID

    /// A granted request: send it to `model`, then `release` it.
    public struct Lease: Sendable {
        public var id: RequestID
        public var model: RoutableModel
    }

    /// The outcome of asking for a model.
    public enum Admission: Sendable {
        case granted(Lease)
        /// Waits for a load or a drain: `wait(_:)` for it.
        case queued(RequestID)
        case rejected(RouterError)
    }

    /// A model as `GET /v1/models`, `ps` and the dashboard show it.
    public struct ModelStatus: Sendable, Equatable {
        public var model: RoutableModel
        public var phase: LoadScheduler.Phase
        public var owner: LoadScheduler.Owner
        public var inFlight: Int
        public var queued: Int
        /// Seconds since 1970 when the router will unload it, if it will.
        public var unloadAt: Double?
    }

    private var scheduler: LoadScheduler
    private var models: [String: RoutableModel] = [:]
    /// Instance names and aliases, to instance names.
    private var names: [String: String] = [:]
    private var waiting: [RequestID: CheckedContinuation<Lease, any Error>] = [:]
    /// Outcomes that came before their `wait` did.
    private var early: [RequestID: Result<Lease, RouterError>] = [:]
    private var nextID: RequestID = 1
    /// The model of each request not yet answered.
    private var requestModels: [RequestID: String] = [:]
    private var timer: Task<Void, Never>?
    private var timerDeadline: ContinuousClock.Instant?
    private var refreshedAt: ContinuousClock.Instant?
    /// A refresh started by `resolve` is running.
    private var refreshing = false
    /// How many changes of phase each model has had (`change`), for `refresh`.
    private var news: [String: Int] = [:]
    /// When the router last changed each model's phase itself (a load or unload ended; seconds since 1970): a
    /// supervisor transition from before is known already, and applied late it would undo the change (an evicted
    /// instance's `healthy`, delivered after its eviction, would make it loaded again, and its requests fail).
    private var ownChangeAt: [String: Double] = [:]
    /// What the in-flight and queued gauges last said.
    private var reportedInFlight: [String: Int] = [:]
    private var reportedQueued = -1
    private let capacity: CapacityBox
    private let backend: any RouterBackend
    private let logger: Logger
    public nonisolated let metrics: RouterMetrics
    /// The router's event loop, which is also this actor's executor: the forward path, on that loop, asks for a
    /// loaded model's lease without a task (`admitNow`, `release` through `assumeIsolated`).
    public nonisolated let loop: any EventLoop
    private let started = ContinuousClock.now
    private let startedWall = Date().timeIntervalSince1970

    /// How long the model list is trusted before a request reads the configs again.
    static let refreshInterval: Duration = .seconds(2)
    /// The least time between two reads of the configs for names nobody knows.
    static let unknownNameInterval: Duration = .milliseconds(250)

    public init(
        backend: any RouterBackend, limits: LoadScheduler.Limits, metrics: RouterMetrics = RouterMetrics(),
        logger: Logger, loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()
    ) {
        self.loop = loop
        let capacity = CapacityBox()
        self.capacity = capacity
        self.backend = backend
        self.logger = logger
        self.metrics = metrics
        scheduler = LoadScheduler(policies: [:], limits: limits) { model, resident in
            capacity.fits(model, resident)
        }
    }

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        loop.executor.asUnownedSerialExecutor()
    }

    // MARK: Models

    /// Reads the configs and the supervisor's states again.
    public func refresh() async {
        let before = news
        let (list, states) = await offTheLoop { [backend] in
            (await backend.routableModels(), await backend.currentStates())
        }
        apply(list: list)
        // A state read before a model's own news (a load or unload finished, a transition reported meanwhile) is
        // stale: applied, it would bring back an instance just evicted.
        for (name, state) in states where models[name] != nil && news[name] == before[name] {
            perform(scheduler.handle(.observed(name, state), now: .now))
        }
        refreshedAt = .now
    }

    private func apply(list: [RoutableModel]) {
        models = Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        names = [:]
        for model in list {
            for alias in model.aliases where names[alias] == nil { names[alias] = model.name }
        }
        for model in list { names[model.name] = model.name }
        perform(scheduler.handle(.configure(models.mapValues(\.policy)), now: .now))
    }

    /// The instance a request's `model` means. A known name is answered from the list at hand; when the list is
    /// old, one read of the configs starts beside it (requests don't wait for it, nor start one each). An unknown
    /// name reads the configs again before it is refused.
    public func resolve(_ requested: String) async -> RoutableModel? {
        if let refreshedAt, let name = names[requested], let model = models[name] {
            if ContinuousClock.now - refreshedAt >= Self.refreshInterval { refreshBeside() }
            return model
        }
        // An unknown name reads the configs again, at most four times a second whatever clients send.
        if let refreshedAt, ContinuousClock.now - refreshedAt < Self.unknownNameInterval {
            return names[requested].flatMap { models[$0] }
        }
        await refresh()
        return names[requested].flatMap { models[$0] }
    }

    /// Starts a refresh unless one is running.
    private func refreshBeside() {
        guard !refreshing else { return }
        refreshing = true
        Task {
            await self.refresh()
            self.refreshing = false
        }
    }

    /// Every routable model and where it is.
    public func statuses() async -> [ModelStatus] {
        if refreshedAt.map({ ContinuousClock.now - $0 >= Self.refreshInterval }) ?? true { await refresh() }
        return models.values.sorted { $0.name < $1.name }.map { status(of: $0) }
    }

    /// One model's status, if it is routable.
    public func status(named name: String) -> ModelStatus? {
        models[name].map { status(of: $0) }
    }

    /// The statuses of those of `names` that are routable, in one question (`ps`).
    public func statuses(named names: [String]) -> [String: ModelStatus] {
        var found: [String: ModelStatus] = [:]
        for name in names { found[name] = status(named: name) }
        return found
    }

    private func status(of model: RoutableModel) -> ModelStatus {
        let state = scheduler.models[model.name]
        let unloadAt = state?.idleUnloadAt.map { startedWall + seconds($0 - started) }
        return ModelStatus(
            model: model, phase: state?.phase ?? .unloaded, owner: state?.owner ?? .router,
            inFlight: state?.inFlight ?? 0, queued: scheduler.queued(for: model.name), unloadAt: unloadAt)
    }

    // MARK: Requests

    /// Asks for `model` (an instance name). Granted at once when it is loaded; else queued.
    public func admit(_ model: RoutableModel) async -> Admission {
        if scheduler.models[model.name]?.phase != .loaded {
            await refreshCapacity()
        }
        return enqueue(model)
    }

    /// The model a request names and its admission, when both are known without waiting: a name in the list at
    /// hand, a model loaded. `nil`: `resolve` and `admit` decide.
    func admitNow(_ requested: String) -> (RoutableModel, Admission)? {
        guard let refreshedAt, let name = names[requested], let model = models[name],
            scheduler.models[name]?.phase == .loaded
        else { return nil }
        if ContinuousClock.now - refreshedAt >= Self.refreshInterval { refreshBeside() }
        return (model, enqueue(model))
    }

    private func enqueue(_ model: RoutableModel) -> Admission {
        let id = nextID
        nextID += 1
        requestModels[id] = model.name
        let effects = scheduler.handle(.request(id, model: model.name), now: .now)
        var outcome: Admission = .queued(id)
        for effect in effects {
            switch effect {
            case .grant(id, _):
                outcome = .granted(Lease(id: id, model: model))
                requestModels.removeValue(forKey: id)
            case .reject(id, let why):
                outcome = .rejected(RouterError(why, model: model.name))
                requestModels.removeValue(forKey: id)
            default: break
            }
        }
        perform(effects, except: id)
        return outcome
    }

    /// Waits for a queued request's turn; throws its rejection, or `CancellationError` after `cancel`.
    public func wait(_ id: RequestID) async throws -> Lease {
        if let outcome = early.removeValue(forKey: id) { return try outcome.get() }
        return try await withCheckedThrowingContinuation { continuation in
            waiting[id] = continuation
        }
    }

    /// A queued request's caller left; nothing once the request was answered (a granted request ends with
    /// `release`).
    public func cancel(_ id: RequestID) {
        guard requestModels.removeValue(forKey: id) != nil else { return }
        perform(scheduler.handle(.cancelled(id), now: .now))
        if let continuation = waiting.removeValue(forKey: id) {
            continuation.resume(throwing: CancellationError())
        } else if early[id] == nil {
            early[id] = .failure(RouterError(.cancelled, model: ""))
        }
    }

    /// A granted request ended.
    public func release(_ lease: Lease) {
        perform(scheduler.handle(.finished(lease.id), now: .now))
    }

    /// `POST /models/load`: starts a model as a request would, without keeping it busy.
    public func load(_ model: RoutableModel) async throws {
        switch await admit(model) {
        case .granted(let lease): release(lease)
        case .queued(let id): release(try await wait(id))
        case .rejected(let error): throw error
        }
    }

    /// `POST /models/unload`: unloads an idle model the router started; `false` when it is busy, kept, started with
    /// `up` or not loaded.
    public func unload(_ name: String) async -> Bool {
        guard let model = scheduler.models[name], model.phase == .loaded, model.owner == .router,
            model.inFlight == 0, scheduler.queued(for: name) == 0, !model.policy.keepLoaded
        else { return false }
        ownChangeAt[name] = Date().timeIntervalSince1970
        change(.observed(name, .stopped))
        await offTheLoop { [backend] in await backend.stopForRouter(name, reason: .idle) }
        return true
    }

    /// What the supervisor says of an instance (the daemon calls it at every transition, in order); `time`, when
    /// the transition happened (seconds since 1970): one older than the router's own last change is passed over.
    public func observe(_ name: String, _ observed: LoadScheduler.Observed, at time: Double? = nil) {
        guard models[name] != nil else { return }
        if let time, let own = ownChangeAt[name], time < own { return }
        change(.observed(name, observed))
    }

    // MARK: Effects

    /// Runs `work` on Swift's global executor. The backend reads configs, asks drivers for memory and stops
    /// processes: done on the router's event loop (the preferred executor of a request's task), that would hold up
    /// every other request and stream meanwhile.
    private func offTheLoop<T: Sendable>(_ work: @Sendable () async -> T) async -> T {
        await withTaskExecutorPreference(globalConcurrentExecutor) { await work() }
    }

    private func refreshCapacity() async {
        let names = Array(models.keys)
        let fits = await offTheLoop { [backend] in await backend.capacity(for: names) }
        capacity.set(fits)
    }

    /// Hands the scheduler a change of a model's phase that is news to a refresh running meanwhile (a transition
    /// the supervisor reported, a load or unload that ended): counted in `news`, so that the refresh does not apply
    /// the older state it read.
    private func change(_ event: LoadScheduler.Event) {
        switch event {
        case .observed(let name, _):
            news[name, default: 0] += 1
        case .loaded(let name), .unloaded(let name), .loadFailed(let name, _):
            news[name, default: 0] += 1
            ownChangeAt[name] = Date().timeIntervalSince1970
        default: break
        }
        perform(scheduler.handle(event, now: .now))
    }

    /// Carries out effects; a grant or rejection for `except` is the caller's to answer.
    private func perform(_ effects: [LoadScheduler.Effect], except: RequestID? = nil) {
        for effect in effects {
            switch effect {
            case .grant(let id, let name):
                guard id != except else { continue }
                guard let model = models[name] else { continue }
                answer(id, .success(Lease(id: id, model: model)))
            case .reject(let id, let why):
                guard id != except else { continue }
                answer(id, .failure(RouterError(why, model: requestModels[id] ?? "")))
            case .load(let name, let evicting):
                for victim in evicting { metrics.unloaded(victim, reason: .evicted) }
                logger.info(
                    "router: loading \(name)\(evicting.isEmpty ? "" : ", evicting \(evicting.joined(separator: ", "))")"
                )
                Task { await self.runLoad(name, evicting: evicting) }
            case .unload(let name, let reason):
                logger.info("router: unloading \(name) (\(reason.rawValue))")
                metrics.unloaded(name, reason: reason)
                Task {
                    await self.backend.stopForRouter(name, reason: reason)
                    self.change(.unloaded(name))
                }
            }
        }
        if scheduler.queuedCount != reportedQueued {
            reportedQueued = scheduler.queuedCount
            metrics.queued(reportedQueued)
        }
        // Only the gauges that changed: every model's on every request was a cost per request that grew with the
        // number of instances.
        for (name, model) in scheduler.models where reportedInFlight[name] != model.inFlight {
            reportedInFlight[name] = model.inFlight
            metrics.inFlight(model: name, model.inFlight)
        }
        armTimer()
    }

    private func answer(_ id: RequestID, _ outcome: Result<Lease, RouterError>) {
        requestModels.removeValue(forKey: id)
        if let continuation = waiting.removeValue(forKey: id) {
            continuation.resume(with: outcome.mapError { $0 as any Error })
        } else {
            early[id] = outcome
        }
    }

    private func runLoad(_ name: String, evicting: [String]) async {
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for victim in evicting {
                group.addTask { await self.backend.stopForRouter(victim, reason: .evicted) }
            }
        }
        for victim in evicting { change(.unloaded(victim)) }
        do {
            try await backend.startForRouter(name)
            metrics.loadFinished(name, ok: true, duration: .now - start)
            change(.loaded(name))
        } catch {
            metrics.loadFinished(name, ok: false, duration: .now - start)
            logger.warning("router: loading \(name) failed: \(error)")
            change(.loadFailed(name, message: "\(error)"))
        }
    }

    /// One timer for the scheduler's next deadline.
    private func armTimer() {
        let deadline = scheduler.nextDeadline
        guard deadline != timerDeadline else { return }
        timer?.cancel()
        timerDeadline = deadline
        guard let deadline else { return }
        timer = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            guard !Task.isCancelled else { return }
            self.tick()
        }
    }

    private func tick() {
        timerDeadline = nil
        perform(scheduler.handle(.tick, now: .now))
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The scheduler's memory question, replaced as the devices change.
final class CapacityBox: Sendable {
    private let current = Mutex<LoadScheduler.Fits>({ _, _ in true })

    func set(_ fits: @escaping LoadScheduler.Fits) {
        current.withLock { $0 = fits }
    }

    func fits(_ model: String, _ resident: Set<String>) -> Bool {
        current.withLock { $0 }(model, resident)
    }
}
