/// One instance as declared in `instances/<name>/config.json`, with every default filled in.
///
/// The schema is the original design's, extended; `ConfigValidator` checks the file's shape against
/// `ConfigSpec`, then decodes it with `JSONDecoder`, which fills in `Defaults`. Field documentation lives
/// in the README.
public struct InstanceConfig: Sendable, Equatable, Codable {
    public var name: String
    public var tags: [String]
    public var autostart: Bool
    public var model: Model
    public var server: Server
    public var gpu: GPU
    public var healthcheck: HealthCheck
    public var restartPolicy: RestartPolicySettings
    public var env: [String: String]
    public var args: [String]
    public var logs: Logs
    public var binary: Binary
    public var router: Router

    enum CodingKeys: String, CodingKey {
        case name, tags, autostart, model, server, gpu, healthcheck
        case restartPolicy = "restart_policy"
        case env, args, logs, binary, router
    }

    /// The model file and how llama-server loads it.
    public struct Model: Sendable, Equatable, Codable {
        /// As written in the config (relative to the config file's folder, or absolute).
        public var path: String
        /// `path` resolved against the config file's folder.
        public var resolvedPath: String
        public var contextSize: Int
        public var batchSize: Int
        public var ubatchSize: Int?
        /// `nil` means the host's physical core count.
        public var threads: Int?
        public var cacheTypeK: CacheType
        public var cacheTypeV: CacheType
        public var flashAttention: FlashAttention

        enum CodingKeys: String, CodingKey {
            case path
            case resolvedPath = "resolved_path"
            case contextSize = "context_size"
            case batchSize = "batch_size"
            case ubatchSize = "ubatch_size"
            case threads
            case cacheTypeK = "cache_type_k"
            case cacheTypeV = "cache_type_v"
            case flashAttention = "flash_attention"
        }
    }

    /// Where llama-server listens.
    public struct Server: Sendable, Equatable, Codable {
        public var host: String
        public var port: Int
        public var parallel: Int
        /// llama-server's `--timeout` (read/write timeout, seconds), when set.
        public var timeout: Double?
    }

    /// Which backend and devices the instance may use.
    public struct GPU: Sendable, Equatable, Codable {
        public var backend: String
        public var deviceID: DeviceSelector?
        public var devices: [DeviceSelector]?
        public var layers: LayerCount

        enum CodingKeys: String, CodingKey {
            case backend
            case deviceID = "device_id"
            case devices, layers
        }
    }

    /// How the instance's health is probed (Kubernetes-style startup and liveness semantics).
    public struct HealthCheck: Sendable, Equatable, Codable {
        public var type: String
        public var path: String
        public var interval: Double
        /// Probe interval until the first pass, within the start period (Docker's `--health-start-interval`):
        /// a server that loads in 2 s is found healthy then, not at the next 10 s probe.
        public var startInterval: Double
        public var timeout: Double
        public var retries: Int
        public var startPeriod: Double

        enum CodingKeys: String, CodingKey {
            case type, path, interval, timeout, retries
            case startInterval = "start_interval"
            case startPeriod = "start_period"
        }
    }

    /// When and how fast the instance is restarted after it exits or turns unhealthy.
    public struct RestartPolicySettings: Sendable, Equatable, Codable {
        public var type: String
        public var maxRetries: Int
        public var initialDelay: Double
        public var backoffMultiplier: Double
        public var maxDelay: Double
        public var resetAfter: Double
        public var jitter: Double

        enum CodingKeys: String, CodingKey {
            case type
            case maxRetries = "max_retries"
            case initialDelay = "initial_delay"
            case backoffMultiplier = "backoff_multiplier"
            case maxDelay = "max_delay"
            case resetAfter = "reset_after"
            case jitter
        }
    }

    /// Size-based rotation of `logs/<name>/stdout.log` and `stderr.log`.
    public struct Logs: Sendable, Equatable, Codable {
        public var maxSizeMB: Int
        public var rotation: Int

        enum CodingKeys: String, CodingKey {
            case maxSizeMB = "max_size_mb"
            case rotation
        }
    }

    /// An explicit llama-server binary; searched first when set.
    public struct Binary: Sendable, Equatable, Codable {
        public var path: String?
        public var resolvedPath: String?

        enum CodingKeys: String, CodingKey {
            case path
            case resolvedPath = "resolved_path"
        }
    }
}

extension InstanceConfig {
    /// How the router (the daemon's OpenAI-compatible port) treats the instance.
    public struct Router: Sendable, Equatable, Codable {
        /// Other names a request's `model` may use.
        public var aliases: [String]
        /// A request may start it.
        public var onDemand: Bool
        /// Seconds without requests before the router unloads it (when the router started it); 0: never; `nil`: the
        /// project's `router.idle_ttl`.
        public var idleTTL: Double?
        /// Never unloaded for idleness nor evicted for another model.
        public var keepLoaded: Bool
        /// Queue and eviction order: higher loads first and is evicted last.
        public var priority: Int
        /// Requests queued, loading and served at once; `nil`: `server.parallel` x 4.
        public var concurrencyLimit: Int?
        /// Listed by `GET /v1/models`.
        public var listed: Bool

        enum CodingKeys: String, CodingKey {
            case aliases
            case onDemand = "on_demand"
            case idleTTL = "idle_ttl"
            case keepLoaded = "keep_loaded"
            case priority
            case concurrencyLimit = "concurrency_limit"
            case listed
        }

        public init(
            aliases: [String] = [], onDemand: Bool = true, idleTTL: Double? = nil, keepLoaded: Bool = false,
            priority: Int = 0, concurrencyLimit: Int? = nil, listed: Bool = true
        ) {
            self.aliases = aliases
            self.onDemand = onDemand
            self.idleTTL = idleTTL
            self.keepLoaded = keepLoaded
            self.priority = priority
            self.concurrencyLimit = concurrencyLimit
            self.listed = listed
        }
    }

    /// The names a request may give for this instance: its own, then its aliases.
    public var routedNames: [String] { [name] + router.aliases }

    /// `router.concurrency_limit`, or `server.parallel` x 4.
    public var concurrencyLimit: Int { router.concurrencyLimit ?? server.parallel * 4 }
}

extension InstanceConfig {
    /// What a config that leaves a field out gets: the decoder fills these in, and `ConfigSpec` shows them
    /// (in `llama-orch config schema` and, checked by a test, the README).
    public enum Defaults {
        public static let tags: [String] = []
        public static let autostart = false
        public static let contextSize = 4096
        public static let batchSize = 512
        /// For both `cache_type_k` and `cache_type_v`.
        public static let cacheType = CacheType.f16
        public static let flashAttention = FlashAttention.auto
        public static let host = "127.0.0.1"
        public static let parallel = 1
        public static let gpu = GPU(backend: "auto", deviceID: nil, devices: nil, layers: .auto)
        public static let healthcheck = HealthCheck(
            type: "http", path: "/health", interval: 10, startInterval: 1, timeout: 5, retries: 3, startPeriod: 60)
        public static let restartPolicy = RestartPolicySettings(
            type: "on-failure", maxRetries: 5, initialDelay: 1, backoffMultiplier: 2, maxDelay: 300, resetAfter: 600,
            jitter: 0.1)
        public static let env: [String: String] = [:]
        public static let args: [String] = []
        public static let logs = Logs(maxSizeMB: 100, rotation: 5)
        public static let binary = Binary(path: nil, resolvedPath: nil)
        public static let router = Router()
    }
}

private typealias Defaults = InstanceConfig.Defaults

// The decoders fill in `Defaults` for absent keys. They sit in extensions so that the memberwise
// initializers `Defaults` uses stay.

extension InstanceConfig {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        tags = try container.decode(.tags, or: Defaults.tags)
        autostart = try container.decode(.autostart, or: Defaults.autostart)
        model = try container.decode(Model.self, forKey: .model)
        server = try container.decode(Server.self, forKey: .server)
        gpu = try container.decode(.gpu, or: Defaults.gpu)
        healthcheck = try container.decode(.healthcheck, or: Defaults.healthcheck)
        restartPolicy = try container.decode(.restartPolicy, or: Defaults.restartPolicy)
        env = try container.decode(.env, or: Defaults.env)
        args = try container.decode(.args, or: Defaults.args)
        logs = try container.decode(.logs, or: Defaults.logs)
        binary = try container.decode(.binary, or: Defaults.binary)
        router = try container.decode(.router, or: Defaults.router)
    }
}

extension InstanceConfig.Router {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Defaults.router
        aliases = try container.decode(.aliases, or: defaults.aliases)
        onDemand = try container.decode(.onDemand, or: defaults.onDemand)
        idleTTL = try container.decodeIfPresent(Double.self, forKey: .idleTTL)
        keepLoaded = try container.decode(.keepLoaded, or: defaults.keepLoaded)
        priority = try container.decode(.priority, or: defaults.priority)
        concurrencyLimit = try container.decodeIfPresent(Int.self, forKey: .concurrencyLimit)
        listed = try container.decode(.listed, or: defaults.listed)
    }
}

extension InstanceConfig.Model {
    /// `resolvedPath` is `path` unless given; `ConfigValidator` resolves it against the config's folder.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        resolvedPath = try container.decode(.resolvedPath, or: path)
        contextSize = try container.decode(.contextSize, or: Defaults.contextSize)
        batchSize = try container.decode(.batchSize, or: Defaults.batchSize)
        ubatchSize = try container.decodeIfPresent(Int.self, forKey: .ubatchSize)
        threads = try container.decodeIfPresent(Int.self, forKey: .threads)
        cacheTypeK = try container.decode(.cacheTypeK, or: Defaults.cacheType)
        cacheTypeV = try container.decode(.cacheTypeV, or: Defaults.cacheType)
        flashAttention = try container.decode(.flashAttention, or: Defaults.flashAttention)
    }
}

extension InstanceConfig.Server {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decode(.host, or: Defaults.host)
        port = try container.decode(Int.self, forKey: .port)
        parallel = try container.decode(.parallel, or: Defaults.parallel)
        timeout = try container.decodeIfPresent(Double.self, forKey: .timeout)
    }
}

extension InstanceConfig.GPU {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        backend = try container.decode(.backend, or: Defaults.gpu.backend)
        deviceID = try container.decodeIfPresent(DeviceSelector.self, forKey: .deviceID)
        devices = try container.decodeIfPresent([DeviceSelector].self, forKey: .devices)
        layers = try container.decode(.layers, or: Defaults.gpu.layers)
    }
}

extension InstanceConfig.HealthCheck {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Defaults.healthcheck
        type = try container.decode(.type, or: defaults.type)
        path = try container.decode(.path, or: defaults.path)
        interval = try container.decode(.interval, or: defaults.interval)
        startInterval = try container.decode(.startInterval, or: defaults.startInterval)
        timeout = try container.decode(.timeout, or: defaults.timeout)
        retries = try container.decode(.retries, or: defaults.retries)
        startPeriod = try container.decode(.startPeriod, or: defaults.startPeriod)
    }
}

extension InstanceConfig.RestartPolicySettings {
    /// The original schema's `enabled` switch, read but not kept: `false` means type `never`.
    private enum SwitchKey: String, CodingKey {
        case enabled
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = Defaults.restartPolicy
        type = try container.decode(.type, or: defaults.type)
        if try decoder.container(keyedBy: SwitchKey.self).decodeIfPresent(Bool.self, forKey: .enabled) == false {
            type = "never"
        }
        maxRetries = try container.decode(.maxRetries, or: defaults.maxRetries)
        initialDelay = try container.decode(.initialDelay, or: defaults.initialDelay)
        backoffMultiplier = try container.decode(.backoffMultiplier, or: defaults.backoffMultiplier)
        maxDelay = try container.decode(.maxDelay, or: defaults.maxDelay)
        resetAfter = try container.decode(.resetAfter, or: defaults.resetAfter)
        jitter = try container.decode(.jitter, or: defaults.jitter)
    }
}

extension InstanceConfig.Logs {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxSizeMB = try container.decode(.maxSizeMB, or: Defaults.logs.maxSizeMB)
        rotation = try container.decode(.rotation, or: Defaults.logs.rotation)
    }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` when the key is absent.
    fileprivate func decode<T: Decodable>(_ key: Key, or fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}

/// KV cache element types llama-server accepts for `--cache-type-k` / `--cache-type-v`.
public enum CacheType: String, Sendable, Codable, CaseIterable {
    case f16, f32, bf16
    case q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1
}

/// `--flash-attn` setting.
public enum FlashAttention: String, Sendable, Codable, CaseIterable {
    case auto, on, off
}

/// A device named by its index in the driver's list or by name (`Vulkan0`, a description, an id).
public enum DeviceSelector: Sendable, Equatable, Codable, CustomStringConvertible {
    case index(Int)
    case name(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let index = try? container.decode(Int.self) {
            self = .index(index)
        } else {
            self = .name(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .index(let index): try container.encode(index)
        case .name(let name): try container.encode(name)
        }
    }

    public var description: String {
        switch self {
        case .index(let index): String(index)
        case .name(let name): name
        }
    }
}

/// How many layers go to the GPU: a number, `auto` (the scheduler decides) or `all`.
public enum LayerCount: Sendable, Equatable, Codable, CustomStringConvertible {
    case auto
    case all
    case count(Int)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let count = try? container.decode(Int.self) {
            self = .count(count)
            return
        }
        switch try container.decode(String.self) {
        case "all": self = .all
        default: self = .auto
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .auto: try container.encode("auto")
        case .all: try container.encode("all")
        case .count(let count): try container.encode(count)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .all: "all"
        case .count(let count): String(count)
        }
    }
}

/// The built-in names a config may use before the supervisor's registries exist at run time.
public enum BuiltInNames {
    /// Health checker names (`healthcheck.type`).
    public static let healthCheckers = ["http", "tcp", "process", "inference"]
    /// Restart policy names (`restart_policy.type`).
    public static let restartPolicies = ["never", "on-failure", "always", "unless-stopped"]
}
