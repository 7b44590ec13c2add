import Router
import TestSupport
import Testing

/// The scheduler against a simulated daemon and random traffic: requests, cancellations, slow and failing loads,
/// time passing. After every event: the memory it plans never exceeds the device, it never evicts or unloads a
/// model with a request in flight or queued, nor a `keep_loaded` one, and no request gets two outcomes. At the end,
/// with no new requests, every request has had its outcome within the queue timeout. Every loop is bounded: a
/// livelock fails with the seed instead of hanging.
struct LoadSchedulerPropertyTests {
    typealias S = LoadScheduler

    /// One random world: model sizes and policies on one device.
    struct World {
        var sizes: [String: Int]
        var policies: [String: S.Policy]
        var capacity: Int
        var limits: S.Limits

        init(random: inout SeededGenerator) {
            capacity = 100
            let count = Int.random(in: 2...6, using: &random)
            sizes = [:]
            policies = [:]
            for index in 0..<count {
                let name = "m\(index)"
                sizes[name] = Int.random(in: 10...70, using: &random)
                policies[name] = S.Policy(
                    priority: Int.random(in: 0...2, using: &random),
                    keepLoaded: Int.random(in: 0..<8, using: &random) == 0,
                    concurrencyLimit: Int.random(in: 2...12, using: &random),
                    idleTTL: Bool.random(using: &random) ? .seconds(Int.random(in: 1...20, using: &random)) : nil)
            }
            limits = S.Limits(queueLimit: Int.random(in: 5...40, using: &random), queueTimeout: .seconds(30))
        }
    }

    /// The simulated daemon: carries out the effects after random delays and checks every invariant.
    struct Simulation {
        let world: World
        let seed: UInt64
        var scheduler: S
        var random: SeededGenerator
        var now = ContinuousClock.now
        /// Pending completions: when, and the event to send.
        var pending: [(at: ContinuousClock.Instant, event: S.Event)] = []
        var outcomes: [S.RequestID: String] = [:]
        var waiting: Set<S.RequestID> = []
        var granted: Set<S.RequestID> = []
        var nextID: S.RequestID = 1
        var failures: [String] = []
        var events = 0

        init(world: World, seed: UInt64) {
            self.world = world
            self.seed = seed
            random = SeededGenerator(seed: seed)
            let sizes = world.sizes
            let capacity = world.capacity
            scheduler = S(policies: world.policies, limits: world.limits) { model, resident in
                (sizes[model] ?? 0) + resident.reduce(0) { $0 + (sizes[$1] ?? 0) } <= capacity
            }
        }

        mutating func fail(_ message: String) {
            if failures.count < 5 { failures.append("seed \(seed), event \(events): \(message)") }
        }

        mutating func send(_ event: S.Event) {
            events += 1
            let effects = scheduler.handle(event, now: now)
            // Checked against the models after the event: a request that just finished is no longer in flight.
            let after = scheduler.models
            for effect in effects { carryOut(effect, models: after) }
            checkMemory()
        }

        /// What the daemon does with an effect, checked against the models.
        mutating func carryOut(_ effect: S.Effect, models: [String: S.Model]) {
            switch effect {
            case .grant(let id, let model):
                record(id, "granted \(model)")
                guard waiting.remove(id) != nil else { return fail("request \(id) granted while not waiting") }
                granted.insert(id)
                // Served for 0 to 5 s, sometimes abandoned by its client.
                let ends = now + .milliseconds(Int.random(in: 0...5000, using: &random))
                pending.append((ends, Int.random(in: 0..<10, using: &random) == 0 ? .cancelled(id) : .finished(id)))
            case .reject(let id, let why):
                record(id, "rejected \(why)")
                waiting.remove(id)
            case .load(let model, let evicting):
                for victim in evicting {
                    checkRemovable(victim, model: models[victim], why: "evicted for \(model)")
                    pending.append((now + .milliseconds(Int.random(in: 10...500, using: &random)), .unloaded(victim)))
                }
                let ready = now + .milliseconds(Int.random(in: 100...4000, using: &random))
                let failed = Int.random(in: 0..<12, using: &random) == 0
                pending.append((ready, failed ? .loadFailed(model, message: "no luck") : .loaded(model)))
            case .unload(let model, _):
                checkRemovable(model, model: models[model], why: "unloaded for idleness")
                if models[model]?.policy.idleTTL == nil { fail("\(model) has no idle TTL and was unloaded") }
                if scheduler.queued(for: model) > 0 { fail("\(model) unloaded for idleness with requests queued") }
                pending.append((now + .milliseconds(Int.random(in: 10...500, using: &random)), .unloaded(model)))
            }
        }

        mutating func record(_ id: S.RequestID, _ outcome: String) {
            if let earlier = outcomes[id] { fail("request \(id) got a second outcome: \(outcome) after \(earlier)") }
            outcomes[id] = outcome
        }

        /// A model stopped by the router: never busy, never keep_loaded, never one the user started.
        mutating func checkRemovable(_ name: String, model: S.Model?, why: String) {
            guard let model else { return fail("\(name) \(why) but unknown") }
            if model.inFlight > 0 { fail("\(name) \(why) with \(model.inFlight) requests in flight") }
            if model.policy.keepLoaded { fail("\(name) \(why) though keep_loaded") }
            if model.owner != .router { fail("\(name) \(why) though the user started it") }
        }

        /// What is loaded, loading or still unloading for idleness fits the device.
        mutating func checkMemory() {
            var held = 0
            for (name, model) in scheduler.models {
                switch model.phase {
                case .loaded, .loading, .unloading(.idle): held += world.sizes[name] ?? 0
                default: break
                }
            }
            if held > world.capacity { fail("planned \(held) of \(world.capacity): \(scheduler.models)") }
        }

        /// Delivers the completions due by `now`, in time order.
        mutating func deliverDue() {
            pending.sort { $0.at < $1.at }
            var delivered = 0
            while let first = pending.first, first.at <= now {
                pending.removeFirst()
                if case .finished(let id) = first.event { granted.remove(id) }
                if case .cancelled(let id) = first.event { granted.remove(id) }
                send(first.event)
                delivered += 1
                guard delivered < 100_000 else { return fail("completions never end: livelock") }
            }
        }

        mutating func newRequest() {
            let id = nextID
            nextID += 1
            let model = world.sizes.keys.sorted().randomElement(using: &random)!
            waiting.insert(id)
            send(.request(id, model: model))
        }

        /// Random traffic for `steps` steps, then none until everything has settled.
        mutating func run(steps: Int) {
            for _ in 0..<steps {
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<5: newRequest()
                case 5:
                    // A client leaves while queued.
                    if let id = waiting.sorted().randomElement(using: &random) {
                        send(.cancelled(id))
                        if waiting.remove(id) != nil { record(id, "cancelled while queued") }
                    }
                default:
                    now += .milliseconds(Int.random(in: 0...1500, using: &random))
                    deliverDue()
                    send(.tick)
                }
                if !failures.isEmpty { return }
            }
            // Quiet: time passes until nothing is pending and no request waits.
            var quiet = 0
            while !(pending.isEmpty && waiting.isEmpty && granted.isEmpty) {
                quiet += 1
                guard quiet < 10_000 else {
                    return fail(
                        "never settles: \(waiting.count) waiting, \(granted.count) granted, \(pending.count) pending")
                }
                now += .milliseconds(250)
                deliverDue()
                send(.tick)
                if !failures.isEmpty { return }
            }
            let unanswered = (1..<nextID).filter { outcomes[$0] == nil }
            if !unanswered.isEmpty { fail("requests without an outcome: \(unanswered.prefix(10))") }
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: 0..<200)
    func randomTrafficKeepsEveryInvariant(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 17)
        let world = World(random: &random)
        var simulation = Simulation(world: world, seed: UInt64(seed))
        simulation.run(steps: 400)
        #expect(simulation.failures.isEmpty, "\(world.sizes) \(simulation.failures.joined(separator: "\n"))")
        #expect(simulation.nextID > 100, "the run made requests")
    }
}
