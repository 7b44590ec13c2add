/// The router's decisions, as a value: events in, effects out, no I/O and no clock but the instants it is given.
///
/// It owns every fact a decision reads (which model is loaded, loading or unloading, how many requests each one
/// serves, who waits for what), so that no decision is made from a stale snapshot: a request that arrives while
/// its model is being unloaded for idleness waits for the unload and then loads it again (llama-swap #946).
///
/// Each request gets exactly one outcome: unknown or not startable → rejected; over its model's concurrency limit →
/// 429; queue full → 503; its model loaded → granted; else it waits, and a load starts when the model fits
/// beside what is resident, evicting the cheapest idle set (lower priority first, then least recently used).
/// Loads whose evictions do not overlap run at once. Waiters of a loaded model are served before it can be
/// evicted (collation), unless a request for a cold model has waited past `starvationBound`: then the models it
/// needs gone stop taking new requests, drain, and are evicted.
public struct LoadScheduler: Sendable {
    public typealias Instant = ContinuousClock.Instant
    public typealias RequestID = UInt64

    /// Whether `model` would get its planned placement while `resident` hold their memory.
    public typealias Fits = @Sendable (_ model: String, _ resident: Set<String>) -> Bool

    /// What the router may do with one model.
    public struct Policy: Sendable, Equatable {
        /// Higher loads first and is evicted last.
        public var priority: Int
        /// Never unloaded for idleness nor evicted.
        public var keepLoaded: Bool
        /// A request may start it.
        public var onDemand: Bool
        /// Requests queued, loading and served at once; more get 429.
        public var concurrencyLimit: Int
        /// Unloaded this long after its last request ended, when the router started it; `nil`: never.
        public var idleTTL: Duration?

        public init(
            priority: Int = 0, keepLoaded: Bool = false, onDemand: Bool = true, concurrencyLimit: Int = 4,
            idleTTL: Duration? = .seconds(600)
        ) {
            self.priority = priority
            self.keepLoaded = keepLoaded
            self.onDemand = onDemand
            self.concurrencyLimit = concurrencyLimit
            self.idleTTL = idleTTL
        }
    }

    public struct Limits: Sendable, Equatable {
        /// Requests waiting at once, all models together; more get 503.
        public var queueLimit: Int
        /// How long a request may wait for its model; then 504.
        public var queueTimeout: Duration
        /// How long a request for a cold model waits before the models in its way stop taking new requests.
        public var starvationBound: Duration

        public init(
            queueLimit: Int = 512, queueTimeout: Duration = .seconds(300), starvationBound: Duration? = nil
        ) {
            self.queueLimit = queueLimit
            self.queueTimeout = queueTimeout
            self.starvationBound = starvationBound ?? queueTimeout / 4
        }
    }

    public enum UnloadReason: String, Sendable, Equatable {
        case idle
        case evicted
    }

    /// Where a model is, in llama.cpp router mode's words where they apply.
    public enum Phase: Sendable, Equatable {
        case unloaded
        case loading
        case loaded
        case unloading(UnloadReason)
        case failed(String)

        /// `status.value` of llama.cpp's router mode.
        public var statusValue: String {
            switch self {
            case .unloaded, .unloading: "unloaded"
            case .loading: "loading"
            case .loaded: "loaded"
            case .failed: "failed"
            }
        }
    }

    /// Who started a resident model: the router unloads only what it started.
    public enum Owner: String, Sendable, Equatable {
        case router
        case user
    }

    /// What the supervisor says of an instance, for changes the router did not make (`up`, `down`, a crash).
    public enum Observed: Sendable, Equatable {
        /// Started and not yet healthy.
        case starting(Owner)
        case healthy(Owner)
        case stopped
        case failed(String)
    }

    public enum Event: Sendable, Equatable {
        case request(RequestID, model: String)
        /// The caller left before its request finished (queued or granted).
        case cancelled(RequestID)
        /// A granted request ended.
        case finished(RequestID)
        case loaded(String)
        case loadFailed(String, message: String)
        case unloaded(String)
        case observed(String, Observed)
        /// Time passed: timeouts, the starvation bound, idle unloads.
        case tick
        /// The routable models and their policies, after the configs changed.
        case configure([String: Policy])
    }

    public enum Rejection: Sendable, Equatable {
        case unknownModel
        /// Not running and `on_demand` is false.
        case notOnDemand
        case overConcurrency(limit: Int)
        case queueFull(limit: Int)
        case queueTimeout(waited: Duration)
        case loadFailed(String)
        /// It can't fit even with every model it may evict gone: those that stay.
        case doesNotFit(keptResident: [String])
        /// It was unconfigured while the request waited.
        case removed
    }

    public enum Effect: Sendable, Equatable {
        case grant(RequestID, model: String)
        case reject(RequestID, Rejection)
        /// Stop `evicting`, wait for their memory, start `model` and report `.loaded` or `.loadFailed` (and
        /// `.unloaded` for each one evicted).
        case load(String, evicting: [String])
        /// Stop the model and report `.unloaded`.
        case unload(String, reason: UnloadReason)
    }

    /// One model's state.
    public struct Model: Sendable, Equatable {
        public var policy: Policy
        public var phase: Phase = .unloaded
        public var owner: Owner = .router
        /// Granted requests not yet finished.
        public var inFlight = 0
        /// When the last request ended or the model became loaded.
        public var lastUsed: Instant?

        /// When an idle unload is due (router-started, idle, with a TTL).
        public var idleUnloadAt: Instant? {
            guard phase == .loaded, owner == .router, !policy.keepLoaded, inFlight == 0,
                let ttl = policy.idleTTL, let lastUsed
            else { return nil }
            return lastUsed + ttl
        }
    }

    struct Waiter: Sendable, Equatable {
        var id: RequestID
        var model: String
        var arrived: Instant
    }

    public private(set) var models: [String: Model] = [:]
    private(set) var queue: [Waiter] = []
    /// Granted requests and their model.
    private(set) var granted: [RequestID: String] = [:]
    /// The models the router is loading itself (`.load` given, `.loaded` or `.loadFailed` not yet reported).
    private var ownLoads: Set<String> = []
    public let limits: Limits
    private let fits: Fits

    public init(policies: [String: Policy], limits: Limits = Limits(), fits: @escaping Fits) {
        self.limits = limits
        self.fits = fits
        for (name, policy) in policies { models[name] = Model(policy: policy) }
    }

    /// Requests waiting for a model.
    public var queuedCount: Int { queue.count }

    /// Whether a request was granted and has not finished.
    public func isGranted(_ id: RequestID) -> Bool {
        granted[id] != nil
    }

    /// Requests waiting for `model`.
    public func queued(for model: String) -> Int {
        queue.lazy.filter { $0.model == model }.count
    }

    /// The next instant at which a `.tick` may change something, if any.
    public var nextDeadline: Instant? {
        var next: Instant?
        func consider(_ deadline: Instant) {
            if next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        for waiter in queue {
            consider(waiter.arrived + limits.queueTimeout)
            if models[waiter.model]?.phase != .loaded { consider(waiter.arrived + limits.starvationBound) }
        }
        for model in models.values {
            if let due = model.idleUnloadAt { consider(due) }
        }
        return next
    }

    // MARK: Events

    public mutating func handle(_ event: Event, now: Instant) -> [Effect] {
        var effects: [Effect] = []
        switch event {
        case .request(let id, let name):
            guard let model = models[name] else {
                return [.reject(id, .unknownModel)]
            }
            let resident = model.phase == .loaded || model.phase == .loading
            if !resident && !model.policy.onDemand {
                return [.reject(id, .notOnDemand)]
            }
            if queued(for: name) + model.inFlight >= model.policy.concurrencyLimit {
                return [.reject(id, .overConcurrency(limit: model.policy.concurrencyLimit))]
            }
            if queue.count >= limits.queueLimit {
                return [.reject(id, .queueFull(limit: limits.queueLimit))]
            }
            queue.append(Waiter(id: id, model: name, arrived: now))
        case .cancelled(let id):
            if let index = queue.firstIndex(where: { $0.id == id }) {
                queue.remove(at: index)
            } else {
                finish(id, now: now)
            }
        case .finished(let id):
            finish(id, now: now)
        case .loaded(let name):
            ownLoads.remove(name)
            models[name]?.phase = .loaded
            models[name]?.lastUsed = now
        case .loadFailed(let name, let message):
            ownLoads.remove(name)
            models[name]?.phase = .failed(message)
            for waiter in queue where waiter.model == name {
                effects.append(.reject(waiter.id, .loadFailed(message)))
            }
            queue.removeAll { $0.model == name }
        case .unloaded(let name):
            if case .unloading = models[name]?.phase { models[name]?.phase = .unloaded }
        case .observed(let name, let observed):
            observe(name, observed, now: now)
        case .tick:
            break
        case .configure(let policies):
            for (name, policy) in policies {
                models[name, default: Model(policy: policy)].policy = policy
            }
            // A model no longer configured takes no new request; one still resident stays known until it stops.
            for name in models.keys where policies[name] == nil {
                for waiter in queue where waiter.model == name { effects.append(.reject(waiter.id, .removed)) }
                queue.removeAll { $0.model == name }
                switch models[name]?.phase {
                case .unloaded?, .failed?: models.removeValue(forKey: name)
                default: models[name]?.policy.onDemand = false
                }
            }
        }
        effects += schedule(now: now)
        return effects
    }

    private mutating func finish(_ id: RequestID, now: Instant) {
        guard let name = granted.removeValue(forKey: id) else { return }
        models[name]?.inFlight -= 1
        models[name]?.lastUsed = now
    }

    /// A change the router did not make. Its own loads and unloads are reported by `.loaded` and `.unloaded`, so
    /// what the supervisor says meanwhile is not a change of phase. (A start it only observed, such as a server
    /// re-adopted by a restarted daemon, is followed to the end.)
    private mutating func observe(_ name: String, _ observed: Observed, now: Instant) {
        guard var model = models[name] else { return }
        switch model.phase {
        case .loading where model.owner == .router && ownLoads.contains(name), .unloading:
            if case .starting(.user) = observed { model.owner = .user }
            if case .healthy(.user) = observed { model.owner = .user }
            models[name] = model
            return
        default: break
        }
        switch observed {
        case .starting(let owner):
            if model.phase != .loaded { model.phase = .loading }
            if owner == .user { model.owner = .user }
        case .healthy(let owner):
            if model.phase != .loaded { model.lastUsed = now }
            model.phase = .loaded
            if owner == .user { model.owner = .user }
        case .stopped:
            model.phase = .unloaded
            model.owner = .router
        case .failed(let message):
            model.phase = .failed(message)
            model.owner = .router
        }
        models[name] = model
    }

    // MARK: Decisions

    /// Runs after every event: timeouts, grants, loads, idle unloads.
    private mutating func schedule(now: Instant) -> [Effect] {
        var effects: [Effect] = []
        for waiter in queue where now - waiter.arrived >= limits.queueTimeout {
            effects.append(.reject(waiter.id, .queueTimeout(waited: now - waiter.arrived)))
        }
        queue.removeAll { now - $0.arrived >= limits.queueTimeout }

        let draining = drainingModels(now: now)
        var waiting: [Waiter] = []
        for waiter in queue {
            if models[waiter.model]?.phase == .loaded && !draining.contains(waiter.model) {
                granted[waiter.id] = waiter.model
                models[waiter.model]?.inFlight += 1
                models[waiter.model]?.lastUsed = now
                effects.append(.grant(waiter.id, model: waiter.model))
            } else {
                waiting.append(waiter)
            }
        }
        queue = waiting

        for name in coldModelsInTurn() {
            switch evictionPlan(for: name, draining: draining) {
            case .fits(let victims):
                for victim in victims { models[victim]?.phase = .unloading(.evicted) }
                models[name]?.phase = .loading
                models[name]?.owner = .router
                ownLoads.insert(name)
                effects.append(.load(name, evicting: victims))
            case .wait:
                continue
            case .never(let kept):
                for waiter in queue where waiter.model == name {
                    effects.append(.reject(waiter.id, .doesNotFit(keptResident: kept)))
                }
                queue.removeAll { $0.model == name }
            }
        }

        let due = models.compactMap { name, model in
            model.idleUnloadAt.map { $0 <= now } == true && queued(for: name) == 0 ? name : nil
        }
        for name in due.sorted() {
            models[name]?.phase = .unloading(.idle)
            effects.append(.unload(name, reason: .idle))
        }
        return effects
    }

    /// The models with waiters that are neither loaded nor on their way, highest priority first, then the one
    /// waited for longest.
    private func coldModelsInTurn() -> [String] {
        // (Most events leave the queue empty: a loaded model's request is granted at once.)
        if queue.isEmpty { return [] }
        // The position of each cold model's first waiter: the queue is in arrival order.
        var first: [String: Int] = [:]
        for (position, waiter) in queue.enumerated() where first[waiter.model] == nil {
            switch models[waiter.model]?.phase {
            case .unloaded?, .failed?: first[waiter.model] = position
            default: break
            }
        }
        return first.keys.sorted { left, right in
            let (a, b) = (models[left]?.policy.priority ?? 0, models[right]?.policy.priority ?? 0)
            if a != b { return a > b }
            return first[left]! < first[right]!
        }
    }

    /// The models whose memory is taken: loaded or loading, and those unloading for idleness (their memory is
    /// not back yet). Models being evicted are not: their memory is already promised to the load that evicts them.
    private var resident: Set<String> {
        Set(
            models.compactMap { name, model in
                switch model.phase {
                case .loaded, .loading, .unloading(.idle): name
                default: nil
                }
            })
    }

    /// Models the router may evict, cheapest first: lower priority, then least recently used.
    private func evictable(busyToo: Bool, draining: Set<String> = []) -> [String] {
        models.filter { name, model in
            guard model.phase == .loaded, model.owner == .router, !model.policy.keepLoaded else { return false }
            if busyToo { return true }
            return model.inFlight == 0 && (queued(for: name) == 0 || draining.contains(name))
        }
        .sorted { left, right in
            if left.value.policy.priority != right.value.policy.priority {
                return left.value.policy.priority < right.value.policy.priority
            }
            switch (left.value.lastUsed, right.value.lastUsed) {
            case (let a?, let b?): return a < b
            case (nil, _?): return true
            default: return false
            }
        }
        .map(\.key)
    }

    enum Plan: Equatable {
        /// Load now after evicting these (none: it fits as is).
        case fits([String])
        /// It fits once busy models drain or other loads end.
        case wait
        /// It can't fit while these, which are never evicted, are resident.
        case never([String])
    }

    /// The smallest cheap set of idle models to evict so that `name` fits, if there is one.
    func evictionPlan(for name: String, draining: Set<String>) -> Plan {
        let resident = resident
        if fits(name, resident) { return .fits([]) }
        var victims: [String] = []
        for candidate in evictable(busyToo: false, draining: draining) {
            victims.append(candidate)
            guard fits(name, resident.subtracting(victims)) else { continue }
            // Keep only those needed: drop each in turn, most expensive to lose first.
            for victim in victims.reversed() where victims.count > 1 {
                let without = victims.filter { $0 != victim }
                if fits(name, resident.subtracting(without)) { victims = without }
            }
            return .fits(victims)
        }
        // Could it fit once everything that may go is gone (busy ones drained, loads done, idle unloads over)?
        let mayGo = models.filter { _, model in
            switch model.phase {
            case .loaded, .loading: !model.policy.keepLoaded && model.owner == .router
            case .unloading: true
            default: false
            }
        }
        if fits(name, resident.subtracting(mayGo.keys)) { return .wait }
        return .never(resident.subtracting(mayGo.keys).sorted())
    }

    /// The models that take no new requests because the oldest starving cold request needs them gone.
    private func drainingModels(now: Instant) -> Set<String> {
        for waiter in queue where now - waiter.arrived >= limits.starvationBound {
            switch models[waiter.model]?.phase {
            case .unloaded?, .failed?: break
            default: continue
            }
            let resident = resident
            if fits(waiter.model, resident) { return [] }
            var victims: Set<String> = []
            for candidate in evictable(busyToo: true) {
                victims.insert(candidate)
                if fits(waiter.model, resident.subtracting(victims)) { return victims }
            }
            return []
        }
        return []
    }
}
