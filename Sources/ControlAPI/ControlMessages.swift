import OrchestratorCore

/// The daemon as `GET /v1/daemon` describes it.
public struct DaemonInfo: Sendable, Equatable, Codable {
    /// The daemon's process id.
    public var pid: Int32
    /// The project root it serves.
    public var root: String
    /// Seconds since 1970 when it started.
    public var startedAt: Double
    /// The llama-orch version it runs.
    public var version: String
    /// How many instances it supervises now (any state but stopped).
    public var supervised: Int
    /// Warnings from its start: unrecorded processes, stale runs closed, a damaged state store.
    public var warnings: [String]

    public init(pid: Int32, root: String, startedAt: Double, version: String, supervised: Int, warnings: [String]) {
        self.pid = pid
        self.root = root
        self.startedAt = startedAt
        self.version = version
        self.supervised = supervised
        self.warnings = warnings
    }

    /// snake_case on the wire, spelled out: faster than a key strategy, and the same for every encoder.
    enum CodingKeys: String, CodingKey {
        case pid
        case root
        case startedAt = "started_at"
        case version
        case supervised
        case warnings
    }
}

/// One instance as `ps`, `health` and `describe` show it.
public struct InstanceStatus: Sendable, Equatable, Codable {
    /// The instance's name.
    public var name: String
    /// The supervisor's state, or `queued` / `invalid`.
    public var state: State
    /// What the user last asked: `running` or `stopped`.
    public var desiredState: DesiredState
    /// Whether it serves: `healthy`, `unhealthy`, `starting` (not yet healthy) or `-` (not running).
    public var health: Health
    /// The server's pid while one runs.
    public var pid: Int32?
    /// The port the server listens on (the config's when none runs).
    public var port: Int?
    /// The backend driver that placed it (`cpu`, `vulkan`), when known.
    public var backend: String?
    /// The devices it runs on (`Vulkan0`, `Vulkan0,Vulkan1`, `host`), when known.
    public var devices: String?
    /// The model file, as the config names it.
    public var model: String?
    /// Seconds since 1970 when the current server started.
    public var startedAt: Double?
    /// Restarts in a row since the last `up` or stable run.
    public var restarts: Int
    /// The reason of the last state change ("probe passed", "exited with status 1; restart 1 in 1 s").
    public var reason: String?
    /// Seconds since 1970 of the last state change.
    public var since: Double?
    /// A running instance whose config, model file or binary differs from what it runs with: what differs
    /// (`up` recreates it). `nil` when nothing does or it is not known.
    public var configChanges: [String]?
    /// What the server reported it allocated over all devices and host memory, once measured.
    public var measuredBytes: UInt64?
    /// Devices where the measured bytes exceed the estimate by more than 10 % (`Vulkan0`, `host`).
    public var estimateExceeded: [String]?
    /// What the router knows of it, when the daemon serves a router and the instance is routable.
    public var router: RouterInstanceStatus?

    public init(
        name: String, state: State, desiredState: DesiredState, health: Health, pid: Int32? = nil, port: Int? = nil,
        backend: String? = nil, devices: String? = nil, model: String? = nil, startedAt: Double? = nil,
        restarts: Int = 0, reason: String? = nil, since: Double? = nil
    ) {
        self.name = name
        self.state = state
        self.desiredState = desiredState
        self.health = health
        self.pid = pid
        self.port = port
        self.backend = backend
        self.devices = devices
        self.model = model
        self.startedAt = startedAt
        self.restarts = restarts
        self.reason = reason
        self.since = since
    }

    /// snake_case on the wire, spelled out: faster than a key strategy, and the same for every encoder.
    enum CodingKeys: String, CodingKey {
        case name
        case state
        case desiredState = "desired_state"
        case health
        case pid
        case port
        case backend
        case devices
        case model
        case startedAt = "started_at"
        case restarts
        case reason
        case since
        case configChanges = "config_changes"
        case measuredBytes = "measured_bytes"
        case estimateExceeded = "estimate_exceeded"
        case router
    }
}

/// An instance as the router sees it.
public struct RouterInstanceStatus: Sendable, Equatable, Codable {
    /// What the router does with the instance in a few words, as `ps` and the dashboard show it: `router` when it
    /// started it, then `activity` (`router, 2 busy, unload in 9m`); `-` when nothing.
    public func summary(at now: Double) -> String {
        let parts = (startedByRouter ? ["router"] : []) + activity(at: now)
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// Requests in flight and queued, and when it unloads: `2 busy`, `1 queued`, `unload in 9m`.
    public func activity(at now: Double) -> [String] {
        var parts: [String] = []
        if inFlight > 0 { parts.append("\(inFlight) busy") }
        if queued > 0 { parts.append("\(queued) queued") }
        if let unloadAt { parts.append("unload in \(ElapsedTime.text(max(0, unloadAt - now)))") }
        return parts
    }

    /// llama.cpp router mode's word: `unloaded`, `loading`, `loaded` or `failed`.
    public var status: String
    /// Whether the router started it (and so may unload it).
    public var startedByRouter: Bool
    /// Requests being served through the router.
    public var inFlight: Int
    /// Requests waiting for it.
    public var queued: Int
    /// Seconds since 1970 when the router will unload it for idleness, if it will.
    public var unloadAt: Double?

    public init(status: String, startedByRouter: Bool, inFlight: Int, queued: Int, unloadAt: Double?) {
        self.status = status
        self.startedByRouter = startedByRouter
        self.inFlight = inFlight
        self.queued = queued
        self.unloadAt = unloadAt
    }

    enum CodingKeys: String, CodingKey {
        case status
        case startedByRouter = "started_by_router"
        case inFlight = "in_flight"
        case queued
        case unloadAt = "unload_at"
    }
}

extension InstanceStatus {
    /// An instance's state as `ps` shows it: the supervisor's `InstanceState`, or one of two that only the
    /// daemon knows.
    public enum State: String, Sendable, Codable, CaseIterable {
        case starting, loading, healthy, unhealthy, restarting, stopped, failed
        /// Placed, waiting to start behind another instance on its device.
        case queued
        /// Its config does not validate.
        case invalid

        /// Every supervisor state is a state of the same name (`InstanceStatusTests` checks it).
        public init(_ state: InstanceState) {
            self = State(rawValue: state.rawValue) ?? .failed
        }

        /// The supervisor's state of the same name; `nil` for `queued` and `invalid`, which only the daemon knows.
        public var instanceState: InstanceState? { InstanceState(rawValue: rawValue) }
    }

    /// Whether an instance serves, in one word.
    public enum Health: String, Sendable, Codable {
        case healthy, unhealthy
        /// Running, not yet healthy (loading, restarting, queued).
        case starting
        /// Not running.
        case notRunning = "-"
    }
}

/// `POST /v1/up`, `/v1/down`, `/v1/restart`: the instances to act on.
public struct InstancesRequest: Sendable, Equatable, Codable {
    /// What `up` does with an instance that already runs.
    public enum Recreate: String, Sendable, Codable {
        /// Recreate it when its config, model file or binary changed since it started (the default).
        case changed
        /// Leave it running as it is (`--no-recreate`).
        case never
        /// Recreate it even when nothing changed (`--force-recreate`).
        case always
    }

    /// Instance names; ignored when `all` is set.
    public var names: [String]
    /// Every instance under `instances/` (`up`), or every supervised one (`down`).
    public var all: Bool
    /// `up` only.
    public var recreate: Recreate
    /// `up --all` only: stop supervised instances whose folder is gone from `instances/`.
    public var removeOrphans: Bool

    public init(names: [String], all: Bool = false, recreate: Recreate = .changed, removeOrphans: Bool = false) {
        self.names = names
        self.all = all
        self.recreate = recreate
        self.removeOrphans = removeOrphans
    }

    enum CodingKeys: String, CodingKey {
        case names
        case all
        case recreate
        case removeOrphans = "remove_orphans"
    }

    /// A request without the newer fields (an older client) means what it meant then: recreate what changed.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        names = try container.decodeIfPresent([String].self, forKey: .names) ?? []
        all = try container.decodeIfPresent(Bool.self, forKey: .all) ?? false
        recreate = try container.decodeIfPresent(Recreate.self, forKey: .recreate) ?? .changed
        removeOrphans = try container.decodeIfPresent(Bool.self, forKey: .removeOrphans) ?? false
    }
}

/// What the daemon did with one instance of a request.
public struct InstanceOutcome: Sendable, Equatable, Codable {
    /// What happened, in one word.
    public enum Result: String, Sendable, Codable {
        /// The server was started (or queued to start after the one before it on the same device).
        case started, queued
        /// Nothing to do: already running, or already stopped.
        case unchanged
        /// Stopped (down) or stopped and started again (restart).
        case stopped, restarted
        /// Refused: the error's text is in `message`, its exit code in `exitCode`.
        case failed
    }

    public var name: String
    public var result: Result
    /// A sentence for people ("started pid 123 on port 8001", the placement refusal).
    public var message: String
    /// The exit code a CLI ends with for this failure (`nil` unless `failed`).
    public var exitCode: Int32?
    /// `up` on a running instance: what changed since it started (`model.context_size 4096 → 8192`), set when it
    /// was recreated for it.
    public var changes: [String]?

    public init(name: String, result: Result, message: String, exitCode: Int32? = nil, changes: [String]? = nil) {
        self.name = name
        self.result = result
        self.message = message
        self.exitCode = exitCode
        self.changes = changes
    }

    /// snake_case on the wire, spelled out: faster than a key strategy, and the same for every encoder.
    enum CodingKeys: String, CodingKey {
        case name
        case result
        case message
        case exitCode = "exit_code"
        case changes
    }
}

/// The answer to `up`, `down` and `restart`.
public struct InstancesResponse: Sendable, Equatable, Codable {
    public var outcomes: [InstanceOutcome]

    public init(outcomes: [InstanceOutcome]) {
        self.outcomes = outcomes
    }
}

/// `POST /v1/daemon/stop`.
public struct DaemonStopRequest: Sendable, Equatable, Codable {
    /// Leave the servers running for the next daemon to re-adopt; otherwise they are stopped first.
    public var keepInstances: Bool

    public init(keepInstances: Bool) {
        self.keepInstances = keepInstances
    }

    /// `keep_instances` may be left out: the servers are stopped.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        keepInstances = try container.decodeIfPresent(Bool.self, forKey: .keepInstances) ?? false
    }

    /// snake_case on the wire, spelled out: faster than a key strategy, and the same for every encoder.
    enum CodingKeys: String, CodingKey {
        case keepInstances = "keep_instances"
    }
}

/// The body of every error answer: a message for people and the exit code a CLI ends with.
public struct ErrorBody: Sendable, Equatable, Codable {
    public var message: String
    public var exitCode: Int32

    public init(message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }

    /// snake_case on the wire, spelled out: faster than a key strategy, and the same for every encoder.
    enum CodingKeys: String, CodingKey {
        case message
        case exitCode = "exit_code"
    }
}
