import Foundation

/// The instance config schema as data: the validator, `llama-orch config schema` and the README's
/// reference are all derived from this one table, so they can't drift apart.
public struct ConfigField: Sendable {
    public var key: String
    public var type: ConfigFieldType
    public var summary: String
    /// The default as a user reads it (`4096`, `physical cores`), made from the `ConfigDefault` given, or
    /// `nil` when the field is optional with no default, or required.
    public var defaultValue: String?
    public var required: Bool

    public init(
        _ key: String, _ type: ConfigFieldType, _ summary: String, default: ConfigDefault? = nil,
        required: Bool = false
    ) {
        self.key = key
        self.type = type
        self.summary = summary
        self.defaultValue = `default`?.text
        self.required = required
    }
}

/// What a field is when a config leaves it out.
public enum ConfigDefault {
    /// A value the decoder fills in, one of `InstanceConfig.Defaults`; shown as JSON, strings unquoted.
    case value(any Encodable)
    /// Words for what is no value llama-orch fills in: `physical cores` (the host decides), `{}` (an object
    /// whose fields take their own defaults).
    case words(String)

    var text: String {
        switch self {
        case .value(let value):
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes
            let json = String(decoding: try! encoder.encode(value), as: UTF8.self)
            return json.hasPrefix("\"") ? String(json.dropFirst().dropLast()) : json
        case .words(let words):
            return words
        }
    }
}

/// The shape of one field's value.
public indirect enum ConfigFieldType: Sendable {
    /// A string, optionally limited to a pattern or to a set of names.
    case string(pattern: String? = nil, allowed: NameSet? = nil)
    case integer(min: Int64, max: Int64)
    /// A number of seconds or a fraction; `exclusiveMinimum` makes 0 invalid.
    case number(min: Double, exclusiveMinimum: Bool, max: Double?)
    case boolean
    case array(ConfigFieldType)
    /// An object whose keys are environment variables' names (`env`: any text but `=` and NUL) and whose values
    /// have one type.
    case map(ConfigFieldType)
    case object([ConfigField])
    /// Any one of these shapes (`layers`: an integer, `auto` or `all`).
    case anyOf([ConfigFieldType])
    /// A fixed string (`auto`, `all`).
    case constant(String)
}

/// Where the allowed names of a string field come from.
public enum NameSet: Sendable {
    case fixed([String])
    /// Names from the backend driver registry, plus `auto`.
    case backends
    /// Names from the health checker registry.
    case healthCheckers
    /// Names from the restart policy registry.
    case restartPolicies
}

/// The names the registries hold when a config is validated.
public struct KnownNames: Sendable {
    public var backends: [String]
    public var healthCheckers: [String]
    public var restartPolicies: [String]

    public init(
        backends: [String], healthCheckers: [String] = BuiltInNames.healthCheckers,
        restartPolicies: [String] = BuiltInNames.restartPolicies
    ) {
        self.backends = backends
        self.healthCheckers = healthCheckers
        self.restartPolicies = restartPolicies
    }

    public func names(_ set: NameSet) -> [String] {
        switch set {
        case .fixed(let names): names
        case .backends: ["auto"] + backends
        case .healthCheckers: healthCheckers
        case .restartPolicies: restartPolicies
        }
    }
}

private typealias Defaults = InstanceConfig.Defaults

/// The instance config schema.
public enum ConfigSpec {
    public static let namePattern = "^[a-z0-9][a-z0-9._-]{0,62}$"

    static let seconds = ConfigFieldType.number(min: 0, exclusiveMinimum: true, max: 31_536_000)
    /// A name a request's `model` may give: what OpenAI clients send (`qwen2.5:7b`, `org/model`).
    public static let modelNamePattern = "^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
    static let deviceSelector = ConfigFieldType.anyOf([
        .integer(min: 0, max: 1023), .string(pattern: "^\\S(.*\\S)?$"),
    ])

    /// Every top-level field, in the order the README and `init` write them.
    public static let fields: [ConfigField] = [
        ConfigField("$schema", .string(), "URI of the JSON Schema, for editors; ignored by llama-orch"),
        ConfigField(
            "name", .string(pattern: namePattern), "instance name; must equal the folder name under instances/",
            required: true),
        ConfigField("tags", .array(.string()), "free-form labels", default: .value(Defaults.tags)),
        ConfigField("autostart", .boolean, "start with the daemon at boot", default: .value(Defaults.autostart)),
        ConfigField(
            "model",
            .object([
                ConfigField(
                    "path", .string(pattern: "^.+$"),
                    "GGUF model file, relative to the config file's folder or absolute", required: true),
                ConfigField(
                    "context_size", .integer(min: 256, max: 1_048_576), "context length (-c)",
                    default: .value(Defaults.contextSize)),
                ConfigField(
                    "batch_size", .integer(min: 1, max: 1_048_576), "logical batch size (-b)",
                    default: .value(Defaults.batchSize)),
                ConfigField(
                    "ubatch_size", .integer(min: 1, max: 1_048_576), "physical batch size (-ub); at most batch_size",
                    default: .words("llama-server's (512)")),
                ConfigField(
                    "threads", .integer(min: 1, max: 4096), "CPU threads (-t)", default: .words("physical cores")),
                ConfigField(
                    "cache_type_k", .string(allowed: .fixed(CacheType.allCases.map(\.rawValue))), "K cache type",
                    default: .value(Defaults.cacheType)),
                ConfigField(
                    "cache_type_v", .string(allowed: .fixed(CacheType.allCases.map(\.rawValue))),
                    "V cache type (quantized types need flash attention)",
                    default: .value(Defaults.cacheType)),
                ConfigField(
                    "flash_attention", .string(allowed: .fixed(FlashAttention.allCases.map(\.rawValue))),
                    "flash attention", default: .value(Defaults.flashAttention)),
            ]),
            "the model and how it is loaded", required: true),
        ConfigField(
            "server",
            .object([
                ConfigField(
                    "host", .string(pattern: "^[A-Za-z0-9.:_\\[\\]-]+$"), "address to listen on",
                    default: .value(Defaults.host)),
                ConfigField("port", .integer(min: 1024, max: 65535), "port to listen on", required: true),
                ConfigField(
                    "parallel", .integer(min: 1, max: 256), "slots, concurrent requests (-np)",
                    default: .value(Defaults.parallel)),
                ConfigField("timeout", seconds, "server read/write timeout in seconds (--timeout)"),
            ]),
            "where llama-server listens", required: true),
        ConfigField(
            "gpu",
            .object([
                ConfigField(
                    "backend", .string(allowed: .backends),
                    "backend driver: auto (vulkan, then fallback, then cpu) or a name from 'llama-orch drivers'",
                    default: .value(Defaults.gpu.backend)),
                ConfigField("device_id", deviceSelector, "one device, by index or name"),
                ConfigField("devices", .array(deviceSelector), "several devices, by index or name"),
                ConfigField(
                    "layers",
                    .anyOf([.integer(min: 0, max: 100_000), .constant("auto"), .constant("all")]),
                    "layers to offload: a number, auto (the scheduler decides) or all",
                    default: .value(Defaults.gpu.layers)),
            ]),
            "devices and offload", default: .words("{}")),
        ConfigField(
            "healthcheck",
            .object([
                ConfigField(
                    "type", .string(allowed: .healthCheckers), "health checker: http, tcp, process or inference",
                    default: .value(Defaults.healthcheck.type)),
                ConfigField(
                    "path", .string(pattern: "^/"), "HTTP path probed by http",
                    default: .value(Defaults.healthcheck.path)),
                ConfigField(
                    "interval", seconds, "seconds between probes",
                    default: .value(Defaults.healthcheck.interval)),
                ConfigField(
                    "start_interval", seconds,
                    "seconds between probes until the first pass, within start_period (at most interval)",
                    default: .value(Defaults.healthcheck.startInterval)),
                ConfigField(
                    "timeout", seconds, "seconds before a probe fails",
                    default: .value(Defaults.healthcheck.timeout)),
                ConfigField(
                    "retries", .integer(min: 1, max: 1000), "consecutive failures that make it unhealthy",
                    default: .value(Defaults.healthcheck.retries)),
                ConfigField(
                    "start_period", seconds, "seconds a loading server may fail probes (startup probe)",
                    default: .value(Defaults.healthcheck.startPeriod)),
            ]),
            "health probing", default: .words("{}")),
        ConfigField(
            "restart_policy",
            .object([
                ConfigField(
                    "type", .string(allowed: .restartPolicies),
                    "restart policy: never, on-failure, always or unless-stopped",
                    default: .value(Defaults.restartPolicy.type)),
                ConfigField("enabled", .boolean, "the original schema's switch: false means type never"),
                ConfigField(
                    "max_retries", .integer(min: 0, max: 1_000_000), "restarts before the instance is failed",
                    default: .value(Defaults.restartPolicy.maxRetries)),
                ConfigField(
                    "initial_delay", .number(min: 0, exclusiveMinimum: false, max: 86400), "first delay, seconds",
                    default: .value(Defaults.restartPolicy.initialDelay)),
                ConfigField(
                    "backoff_multiplier", .number(min: 1, exclusiveMinimum: false, max: 100),
                    "growth of the delay per restart",
                    default: .value(Defaults.restartPolicy.backoffMultiplier)),
                ConfigField(
                    "max_delay", .number(min: 0, exclusiveMinimum: false, max: 86400), "delay cap, seconds",
                    default: .value(Defaults.restartPolicy.maxDelay)),
                ConfigField(
                    "reset_after", seconds, "seconds of stable running that reset the backoff",
                    default: .value(Defaults.restartPolicy.resetAfter)),
                ConfigField(
                    "jitter", .number(min: 0, exclusiveMinimum: false, max: 1),
                    "random spread of each delay, a fraction",
                    default: .value(Defaults.restartPolicy.jitter)),
            ]),
            "restarts with exponential backoff", default: .words("{}")),
        ConfigField("env", .map(.string()), "environment variables for llama-server", default: .value(Defaults.env)),
        ConfigField(
            "args", .array(.string()), "extra llama-server arguments, appended last (they win)",
            default: .value(Defaults.args)),
        ConfigField(
            "logs",
            .object([
                ConfigField(
                    "max_size_mb", .integer(min: 1, max: 1_048_576), "rotate a log past this size",
                    default: .value(Defaults.logs.maxSizeMB)),
                ConfigField(
                    "rotation", .integer(min: 0, max: 1000), "rotated files kept",
                    default: .value(Defaults.logs.rotation)),
            ]),
            "log rotation", default: .words("{}")),
        ConfigField(
            "binary",
            .object([
                ConfigField(
                    "path", .string(pattern: "^.+$"),
                    "llama-server binary, relative to the config file's folder or absolute")
            ]),
            "which llama-server to run", default: .words("{}")),
        ConfigField(
            "router",
            .object([
                ConfigField(
                    "aliases", .array(.string(pattern: modelNamePattern)),
                    "other names a request's model may give for this instance",
                    default: .value(Defaults.router.aliases)),
                ConfigField(
                    "on_demand", .boolean, "a request to the router may start it",
                    default: .value(Defaults.router.onDemand)),
                ConfigField(
                    "idle_ttl", .number(min: 0, exclusiveMinimum: false, max: 31_536_000),
                    "seconds without requests before the router unloads it (only when the router started it); 0: never",
                    default: .words("the project's router.idle_ttl")),
                ConfigField(
                    "keep_loaded", .boolean, "never unloaded for idleness nor evicted for another model",
                    default: .value(Defaults.router.keepLoaded)),
                ConfigField(
                    "priority", .integer(min: -1000, max: 1000),
                    "queue and eviction order: higher loads first and is evicted last",
                    default: .value(Defaults.router.priority)),
                ConfigField(
                    "concurrency_limit", .integer(min: 1, max: 100_000),
                    "requests queued, loading and served at once; more get 429", default: .words("parallel x 4")),
                ConfigField(
                    "listed", .boolean, "listed by GET /v1/models", default: .value(Defaults.router.listed)),
            ]),
            "how the router (the daemon's OpenAI-compatible port) treats it", default: .words("{}")),
    ]
}
