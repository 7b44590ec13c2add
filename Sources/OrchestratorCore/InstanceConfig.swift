/// One instance as declared in `instances/<name>/config.json`, with every default filled in.
///
/// The schema is the original design's, extended; `ConfigValidator` builds it from the file and
/// `ConfigSchema` describes it as a JSON Schema. Field documentation lives in the README.
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

    enum CodingKeys: String, CodingKey {
        case name, tags, autostart, model, server, gpu, healthcheck
        case restartPolicy = "restart_policy"
        case env, args, logs, binary
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

        public init(
            type: String, path: String, interval: Double, startInterval: Double = 1, timeout: Double, retries: Int,
            startPeriod: Double
        ) {
            (self.type, self.path, self.interval, self.startInterval) = (type, path, interval, startInterval)
            (self.timeout, self.retries, self.startPeriod) = (timeout, retries, startPeriod)
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try container.decode(String.self, forKey: .type)
            path = try container.decode(String.self, forKey: .path)
            interval = try container.decode(Double.self, forKey: .interval)
            startInterval = try container.decodeIfPresent(Double.self, forKey: .startInterval) ?? 1
            timeout = try container.decode(Double.self, forKey: .timeout)
            retries = try container.decode(Int.self, forKey: .retries)
            startPeriod = try container.decode(Double.self, forKey: .startPeriod)
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
