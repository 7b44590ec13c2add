import Router
import Testing

/// The router's decisions against a table of memory sizes: every effect recorded, time moved by hand, no sleeps.
struct LoadSchedulerTests {
    typealias S = LoadScheduler

    /// A scheduler whose models take `sizes` bytes of a device of `capacity` bytes, and a recorder of its effects.
    struct Harness {
        var scheduler: S
        var now = ContinuousClock.now
        var effects: [S.Effect] = []
        private var nextID: S.RequestID = 1
        /// Effects before this index have been carried out by `completeLoads`.
        private var carriedOut = 0

        init(
            sizes: [String: Int], capacity: Int, policies: [String: S.Policy] = [:], limits: S.Limits = S.Limits()
        ) {
            var all: [String: S.Policy] = [:]
            for name in sizes.keys { all[name] = policies[name] ?? S.Policy(concurrencyLimit: 1000) }
            scheduler = S(policies: all, limits: limits) { model, resident in
                (sizes[model] ?? 0) + resident.reduce(0) { $0 + (sizes[$1] ?? 0) } <= capacity
            }
        }

        @discardableResult
        mutating func send(_ event: S.Event) -> [S.Effect] {
            let out = scheduler.handle(event, now: now)
            effects += out
            return out
        }

        /// A new request for `model`; returns its id.
        @discardableResult
        mutating func request(_ model: String) -> S.RequestID {
            defer { nextID += 1 }
            send(.request(nextID, model: model))
            return nextID
        }

        mutating func advance(_ duration: Duration) {
            now += duration
            send(.tick)
        }

        /// Completes every load and unload asked for so far, in order, as the effects layer would.
        mutating func completeLoads() {
            while carriedOut < effects.count {
                let effect = effects[carriedOut]
                carriedOut += 1
                switch effect {
                case .load(let model, let evicting):
                    for victim in evicting { send(.unloaded(victim)) }
                    send(.loaded(model))
                case .unload(let model, _):
                    send(.unloaded(model))
                default: break
                }
            }
        }

        var loads: [String] {
            effects.compactMap { if case .load(let model, _) = $0 { model } else { nil } }
        }
        var granted: [S.RequestID] {
            effects.compactMap { if case .grant(let id, _) = $0 { id } else { nil } }
        }
        func rejection(of id: S.RequestID) -> S.Rejection? {
            for effect in effects { if case .reject(id, let why) = effect { return why } }
            return nil
        }
        func phase(_ model: String) -> S.Phase? { scheduler.models[model]?.phase }
    }

    @Test("50 requests for a cold model: one load, 50 grants once it is loaded")
    func coldCoalescing() {
        var h = Harness(sizes: ["a": 10], capacity: 10)
        let ids = (0..<50).map { _ in h.request("a") }
        #expect(h.loads == ["a"])
        #expect(h.granted.isEmpty)
        h.send(.loaded("a"))
        #expect(h.loads == ["a"])
        #expect(Set(h.granted) == Set(ids))
        #expect(h.scheduler.models["a"]?.inFlight == 50)
    }

    @Test("ABCABC with room for one model: three loads, each model's requests served together")
    func collation() {
        var h = Harness(sizes: ["a": 10, "b": 10, "c": 10], capacity: 10)
        let ids = ["a", "b", "c", "a", "b", "c"].map { h.request($0) }
        #expect(h.loads == ["a"])
        h.send(.loaded("a"))
        #expect(h.granted == [ids[0], ids[3]])
        h.send(.finished(ids[0]))
        #expect(h.loads == ["a"], "a still serves a request: not evicted")
        h.send(.finished(ids[3]))
        #expect(h.loads == ["a", "b"])
        #expect(h.effects.last == .load("b", evicting: ["a"]))
        h.send(.unloaded("a"))
        h.send(.loaded("b"))
        #expect(h.granted.suffix(2) == [ids[1], ids[4]])
        h.send(.finished(ids[1]))
        h.send(.finished(ids[4]))
        h.completeLoads()
        #expect(h.loads == ["a", "b", "c"])
        #expect(h.granted.suffix(2) == [ids[2], ids[5]])
    }

    @Test("Two cold models whose evictions do not overlap load at once")
    func parallelDisjointLoads() {
        var h = Harness(sizes: ["a": 10, "b": 10, "c": 10, "d": 10], capacity: 20)
        let a = h.request("a")
        let b = h.request("b")
        h.completeLoads()
        h.send(.finished(a))
        h.send(.finished(b))
        h.request("c")
        h.request("d")
        let loads = h.effects.compactMap { effect -> [String]? in
            if case .load(let model, let evicting) = effect, model == "c" || model == "d" { return evicting }
            return nil
        }
        #expect(loads.count == 2, "both loads start before either completes")
        #expect(Set(loads.flatMap { $0 }) == ["a", "b"])
        #expect(Set(loads[0]).isDisjoint(with: loads[1]))
    }

    @Test("The queue is bounded: the request past the limit gets queueFull")
    func queueBound() {
        var h = Harness(sizes: ["a": 10, "b": 10], capacity: 10, limits: S.Limits(queueLimit: 3))
        let first = h.request("a")
        h.send(.loaded("a"))
        #expect(h.granted == [first])
        let waiting = (0..<3).map { _ in h.request("b") }
        let over = h.request("b")
        #expect(h.rejection(of: over) == .queueFull(limit: 3))
        for id in waiting { #expect(h.rejection(of: id) == nil) }
    }

    @Test("A request that waits past the queue timeout gets queueTimeout; nextDeadline says when")
    func queueTimeout() {
        var h = Harness(sizes: ["a": 10, "b": 10], capacity: 10, limits: S.Limits(queueTimeout: .seconds(30)))
        let a = h.request("a")
        h.send(.loaded("a"))
        let start = h.now
        let b = h.request("b")
        #expect(h.scheduler.nextDeadline != nil)
        #expect(h.scheduler.nextDeadline! <= start + .seconds(30))
        h.advance(.seconds(29))
        #expect(h.rejection(of: b) == nil)
        h.advance(.seconds(1))
        #expect(h.rejection(of: b) == .queueTimeout(waited: .seconds(30)))
        h.send(.finished(a))
        #expect(h.loads == ["a"], "the timed-out request triggers no load")
    }

    @Test("A request cancelled while queued is removed and triggers no load")
    func cancelWhileQueued() {
        var h = Harness(sizes: ["a": 10, "b": 10], capacity: 10)
        let a = h.request("a")
        h.send(.loaded("a"))
        let b = h.request("b")
        h.send(.cancelled(b))
        #expect(h.scheduler.queuedCount == 0)
        h.send(.finished(a))
        #expect(h.loads == ["a"])
    }

    @Test("A cancelled granted request counts as finished: its model becomes evictable")
    func cancelAfterGrant() {
        var h = Harness(sizes: ["a": 10, "b": 10], capacity: 10)
        let a = h.request("a")
        h.send(.loaded("a"))
        h.request("b")
        h.send(.cancelled(a))
        #expect(h.scheduler.models["a"]?.inFlight == 0)
        #expect(h.loads == ["a", "b"])
    }

    @Test("A busy model is never evicted: the request waits until it drains")
    func neverEvictBusy() {
        var h = Harness(sizes: ["a": 10, "b": 10], capacity: 10)
        let a = h.request("a")
        h.send(.loaded("a"))
        let b = h.request("b")
        h.advance(.seconds(10))
        #expect(h.loads == ["a"])
        #expect(h.rejection(of: b) == nil)
        h.send(.finished(a))
        #expect(h.effects.last == .load("b", evicting: ["a"]))
    }

    @Test("keep_loaded and up-started models are never evicted; a model that can't fit beside them is refused")
    func neverEvictKept() {
        var h = Harness(
            sizes: ["k": 10, "u": 10, "b": 10], capacity: 20,
            policies: ["k": S.Policy(keepLoaded: true, concurrencyLimit: 100)])
        h.send(.observed("u", .healthy(.user)))
        let k = h.request("k")
        h.completeLoads()
        h.send(.finished(k))
        let b = h.request("b")
        #expect(h.loads == ["k"])
        #expect(h.rejection(of: b) == .doesNotFit(keptResident: ["k", "u"]))
    }

    @Test("Eviction order: lower priority first, then least recently used")
    func evictionOrder() {
        var h = Harness(
            sizes: ["low": 10, "old": 10, "new": 10, "x": 10], capacity: 30,
            policies: ["low": S.Policy(priority: -1, concurrencyLimit: 100)])
        for name in ["old", "low", "new"] {
            let id = h.request(name)
            h.completeLoads()
            h.advance(.seconds(1))
            h.send(.finished(id))
        }
        h.request("x")
        #expect(h.effects.last == .load("x", evicting: ["low"]))
        h.completeLoads()
        h.request("low")
        #expect(h.effects.last == .load("low", evicting: ["old"]))
    }

    @Test("Only the models needed are evicted")
    func minimalEviction() {
        var h = Harness(sizes: ["small": 5, "big": 20, "x": 20], capacity: 30)
        for name in ["small", "big"] {
            let id = h.request(name)
            h.completeLoads()
            h.advance(.seconds(1))
            h.send(.finished(id))
        }
        h.request("x")
        #expect(h.effects.last == .load("x", evicting: ["big"]))
    }

    @Test("Starvation bound: a steady stream for A can't keep B waiting past the bound")
    func starvationBound() {
        var h = Harness(
            sizes: ["a": 10, "b": 10], capacity: 10,
            limits: S.Limits(queueTimeout: .seconds(300), starvationBound: .seconds(20)))
        var current = h.request("a")
        h.send(.loaded("a"))
        let b = h.request("b")
        // Requests for a overlap forever: a is never idle on its own.
        for _ in 0..<10 {
            h.advance(.seconds(1))
            let next = h.request("a")
            h.send(.finished(current))
            current = next
        }
        #expect(h.loads == ["a"], "collation: a keeps serving while b waits under the bound")
        h.advance(.seconds(10))
        let late = h.request("a")
        #expect(!h.granted.contains(late), "past the bound a takes no new request")
        h.send(.finished(current))
        #expect(h.effects.last == .load("b", evicting: ["a"]))
        h.completeLoads()
        #expect(h.granted.contains(b))
        #expect(h.rejection(of: b) == nil)
    }

    @Test("llama.cpp #28443: room for one, A idle, then B and C at once: both complete")
    func twoColdAtOnce() {
        var h = Harness(sizes: ["a": 10, "b": 10, "c": 10], capacity: 10)
        let a = h.request("a")
        h.completeLoads()
        h.send(.finished(a))
        let b = h.request("b")
        let c = h.request("c")
        #expect(h.loads == ["a", "b"], "one eviction of a, one load at a time")
        h.completeLoads()
        #expect(h.granted.contains(b))
        h.send(.finished(b))
        h.completeLoads()
        #expect(h.loads == ["a", "b", "c"])
        #expect(h.granted.contains(c))
        #expect(h.scheduler.queuedCount == 0)
    }

    @Test("llama-swap #946: a request during an idle unload waits for it, then loads again")
    func requestDuringIdleUnload() {
        var h = Harness(
            sizes: ["a": 10], capacity: 10, policies: ["a": S.Policy(concurrencyLimit: 10, idleTTL: .seconds(5))])
        let first = h.request("a")
        h.send(.loaded("a"))
        h.send(.finished(first))
        h.advance(.seconds(5))
        #expect(h.effects.last == .unload("a", reason: .idle))
        let second = h.request("a")
        #expect(h.loads == ["a"], "no load while the unload runs")
        h.send(.unloaded("a"))
        #expect(h.loads == ["a", "a"])
        h.send(.loaded("a"))
        #expect(h.granted.contains(second))
    }

    @Test("Idle unload: TTL after the last request ends, never while one is in flight, never for up-started")
    func idleUnload() {
        var h = Harness(
            sizes: ["a": 10, "u": 10], capacity: 100,
            policies: [
                "a": S.Policy(concurrencyLimit: 10, idleTTL: .seconds(5)),
                "u": S.Policy(concurrencyLimit: 10, idleTTL: .seconds(5)),
            ])
        h.send(.observed("u", .healthy(.user)))
        let id = h.request("a")
        h.send(.loaded("a"))
        h.advance(.seconds(60))
        #expect(!h.effects.contains(.unload("a", reason: .idle)), "in flight for 60 s")
        h.send(.finished(id))
        #expect(h.scheduler.nextDeadline == h.now + .seconds(5))
        h.advance(.milliseconds(4999))
        #expect(!h.effects.contains(.unload("a", reason: .idle)))
        h.advance(.milliseconds(1))
        #expect(h.effects.contains(.unload("a", reason: .idle)))
        h.advance(.seconds(600))
        #expect(!h.effects.contains(.unload("u", reason: .idle)))
    }

    @Test("Over the concurrency limit: rejected at admission, counting queued and in-flight requests")
    func concurrencyLimit() {
        var h = Harness(sizes: ["a": 10], capacity: 10, policies: ["a": S.Policy(concurrencyLimit: 2)])
        let one = h.request("a")
        let two = h.request("a")
        let three = h.request("a")
        #expect(h.rejection(of: three) == .overConcurrency(limit: 2))
        h.send(.loaded("a"))
        #expect(h.granted == [one, two])
        h.send(.finished(one))
        let four = h.request("a")
        #expect(h.granted.last == four)
    }

    @Test("Unknown models and on_demand false are rejected; a failed load rejects its waiters")
    func rejections() {
        var h = Harness(
            sizes: ["a": 10, "off": 10], capacity: 100, policies: ["off": S.Policy(onDemand: false)])
        let unknown = h.request("nope")
        #expect(h.rejection(of: unknown) == .unknownModel)
        let off = h.request("off")
        #expect(h.rejection(of: off) == .notOnDemand)
        let a = h.request("a")
        h.send(.loadFailed("a", message: "exited with 1"))
        #expect(h.rejection(of: a) == .loadFailed("exited with 1"))
        #expect(h.phase("a") == .failed("exited with 1"))
        h.request("a")
        #expect(h.loads == ["a", "a"], "a failed model is tried again by the next request")
    }

    @Test("A model started with up is served without a load and is never unloaded by the router")
    func userStarted() {
        var h = Harness(sizes: ["a": 10], capacity: 10)
        h.send(.observed("a", .starting(.user)))
        let id = h.request("a")
        #expect(h.loads.isEmpty)
        h.send(.observed("a", .healthy(.user)))
        #expect(h.granted == [id])
        #expect(h.scheduler.models["a"]?.owner == .user)
        #expect(h.scheduler.models["a"]?.idleUnloadAt == nil)
    }

    @Test("A server of the router's seen starting (re-adopted by a new daemon) is followed to loaded, then unloaded")
    func observedStartOfTheRoutersOwn() {
        var h = Harness(sizes: ["a": 10], capacity: 10, policies: ["a": S.Policy(idleTTL: .seconds(5))])
        h.send(.observed("a", .starting(.router)))
        #expect(h.phase("a") == .loading)
        h.send(.observed("a", .healthy(.router)))
        #expect(h.phase("a") == .loaded, "a start the router only observed is not waited for as its own load")
        let id = h.request("a")
        #expect(h.granted == [id] && h.loads.isEmpty)
        h.send(.finished(id))
        h.advance(.seconds(5))
        #expect(h.effects.last == .unload("a", reason: .idle))
    }
}
