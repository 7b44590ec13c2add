import Foundation

/// Settings of a whole project, not of one instance: `llama-orch.json` at the project root. Optional; every field
/// has a default. Validated like an instance config (`ProjectSpec`), every error with its JSON path.
public struct ProjectSettings: Sendable, Equatable, Codable {
    public var router: Router

    public init(router: Router = Router()) {
        self.router = router
    }

    /// The daemon's OpenAI-compatible port.
    public struct Router: Sendable, Equatable, Codable {
        public var enabled: Bool
        /// `HOST:PORT`, `[IPv6]:PORT`.
        public var listen: String
        /// Keys a client must send; empty: none needed (loopback only, unless `allowUnauthenticated`).
        public var apiKeys: [APIKey]
        /// Listening on a non-loopback address without keys: refused unless this is true.
        public var allowUnauthenticated: Bool
        /// The largest request body, MiB; larger gets 413.
        public var maxBodyMB: Int
        /// Requests waiting for a model at once; more get 503.
        public var queueLimit: Int
        /// Seconds a request may wait for its model; then 504.
        public var queueTimeout: Double
        /// Seconds without requests before a model the router started is unloaded; 0: never.
        public var idleTTL: Double
        /// Seconds without a byte from a server once its response began; then the response ends with an error.
        /// 0: no limit. (There is no limit before the first byte: a long prompt may take minutes.)
        public var streamIdleTimeout: Double
        /// Seconds a client's connection may stay without a request part while nothing is answered on it (idle
        /// keep-alive, a request head or body that stops coming); then it is closed. 0: no limit.
        public var clientIdleTimeout: Double
        /// Origins of web pages that may use the router from a browser (CORS): `scheme://host[:port]`, `:*` for
        /// any port, or `*` for any page.
        public var corsOrigins: [String]
        /// Names, besides this machine's, that requests may reach a loopback router by (`Host`, against DNS
        /// rebinding): a name, `.name` for it and every name under it, or `*` for any.
        public var allowedHosts: [String]

        /// Pages served from this machine, on any port: a browser client run locally works, a site on the web
        /// cannot read the models' answers.
        public static let localOrigins = [
            "http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*", "https://localhost:*",
            "https://127.0.0.1:*", "https://[::1]:*",
        ]

        enum CodingKeys: String, CodingKey {
            case enabled, listen
            case apiKeys = "api_keys"
            case allowUnauthenticated = "allow_unauthenticated"
            case maxBodyMB = "max_body_mb"
            case queueLimit = "queue_limit"
            case queueTimeout = "queue_timeout"
            case idleTTL = "idle_ttl"
            case streamIdleTimeout = "stream_idle_timeout"
            case clientIdleTimeout = "client_idle_timeout"
            case corsOrigins = "cors_origins"
            case allowedHosts = "allowed_hosts"
        }

        public init(
            enabled: Bool = true, listen: String = "127.0.0.1:8080", apiKeys: [APIKey] = [],
            allowUnauthenticated: Bool = false, maxBodyMB: Int = 32, queueLimit: Int = 512,
            queueTimeout: Double = 300, idleTTL: Double = 600, streamIdleTimeout: Double = 300,
            clientIdleTimeout: Double = 60, corsOrigins: [String] = Router.localOrigins, allowedHosts: [String] = []
        ) {
            self.enabled = enabled
            self.listen = listen
            self.apiKeys = apiKeys
            self.allowUnauthenticated = allowUnauthenticated
            self.maxBodyMB = maxBodyMB
            self.queueLimit = queueLimit
            self.queueTimeout = queueTimeout
            self.idleTTL = idleTTL
            self.streamIdleTimeout = streamIdleTimeout
            self.clientIdleTimeout = clientIdleTimeout
            self.corsOrigins = corsOrigins
            self.allowedHosts = allowedHosts
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Router()
            enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? defaults.enabled
            listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? defaults.listen
            apiKeys = try container.decodeIfPresent([APIKey].self, forKey: .apiKeys) ?? defaults.apiKeys
            allowUnauthenticated =
                try container.decodeIfPresent(Bool.self, forKey: .allowUnauthenticated) ?? defaults.allowUnauthenticated
            maxBodyMB = try container.decodeIfPresent(Int.self, forKey: .maxBodyMB) ?? defaults.maxBodyMB
            queueLimit = try container.decodeIfPresent(Int.self, forKey: .queueLimit) ?? defaults.queueLimit
            queueTimeout = try container.decodeIfPresent(Double.self, forKey: .queueTimeout) ?? defaults.queueTimeout
            idleTTL = try container.decodeIfPresent(Double.self, forKey: .idleTTL) ?? defaults.idleTTL
            streamIdleTimeout =
                try container.decodeIfPresent(Double.self, forKey: .streamIdleTimeout) ?? defaults.streamIdleTimeout
            clientIdleTimeout =
                try container.decodeIfPresent(Double.self, forKey: .clientIdleTimeout) ?? defaults.clientIdleTimeout
            corsOrigins = try container.decodeIfPresent([String].self, forKey: .corsOrigins) ?? defaults.corsOrigins
            allowedHosts =
                try container.decodeIfPresent([String].self, forKey: .allowedHosts) ?? defaults.allowedHosts
        }

        /// `listen` split into host and port; `nil` when it is not `HOST:PORT`.
        public var address: (host: String, port: Int)? {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                (1...65535).contains(port)
            else { return nil }
            var host = String(listen[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            return (host, port)
        }

        /// Whether `listen` is a loopback address.
        public var isLoopback: Bool {
            address.map { Self.isLoopback(host: $0.host) } ?? false
        }

        /// Whether `host` (a listen address's) is a loopback address.
        public static func isLoopback(host: String) -> Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    /// An API key, written in the file or read from an environment variable when the daemon starts.
    public enum APIKey: Sendable, Equatable, Codable {
        case literal(String)
        case environment(String)

        private enum CodingKeys: String, CodingKey {
            case env
        }

        public init(from decoder: any Decoder) throws {
            if let text = try? decoder.singleValueContainer().decode(String.self) {
                self = .literal(text)
            } else {
                self = .environment(try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .env))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .literal(let text):
                var container = encoder.singleValueContainer()
                try container.encode(text)
            case .environment(let name):
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(name, forKey: .env)
            }
        }

        /// The key's value; `nil` when its variable is unset or empty.
        public func value(in environment: [String: String]) -> String? {
            switch self {
            case .literal(let text): text
            case .environment(let name): environment[name].flatMap { $0.isEmpty ? nil : $0 }
            }
        }
    }
}

/// The project file's schema, as `ConfigSpec` is the instance config's.
public enum ProjectSpec {
    public static let fileName = "llama-orch.json"

    static let seconds = ConfigFieldType.number(min: 0, exclusiveMinimum: false, max: 31_536_000)

    public static let fields: [ConfigField] = {
        let defaults = ProjectSettings.Router()
        return [
            ConfigField("$schema", .string(), "URI of the JSON Schema, for editors; ignored by llama-orch"),
            ConfigField(
                "router",
                .object([
                    ConfigField(
                        "enabled", .boolean, "serve the router when the daemon runs", default: .value(defaults.enabled)),
                    ConfigField(
                        "listen", .string(pattern: "^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$"),
                        "HOST:PORT the router listens on", default: .value(defaults.listen)),
                    ConfigField(
                        "api_keys",
                        .array(
                            .anyOf([
                                .string(pattern: "^\\S{8,}$"),
                                .object([
                                    ConfigField(
                                        "env", .string(pattern: "^[A-Za-z_][A-Za-z0-9_]*$"),
                                        "environment variable holding the key", required: true)
                                ]),
                            ])),
                        "keys a client must send (Authorization: Bearer, x-api-key or Basic password); a key is a "
                            + "string of 8 or more characters or {\"env\": \"NAME\"}",
                        default: .value([String]())),
                    ConfigField(
                        "allow_unauthenticated", .boolean,
                        "allow a non-loopback listen address without api_keys",
                        default: .value(defaults.allowUnauthenticated)),
                    ConfigField(
                        "max_body_mb", .integer(min: 1, max: 4096), "largest request body in MiB; larger gets 413",
                        default: .value(defaults.maxBodyMB)),
                    ConfigField(
                        "queue_limit", .integer(min: 1, max: 1_000_000),
                        "requests waiting for a model at once; more get 503", default: .value(defaults.queueLimit)),
                    ConfigField(
                        "queue_timeout", .number(min: 0, exclusiveMinimum: true, max: 86400),
                        "seconds a request may wait for its model; then 504", default: .value(defaults.queueTimeout)),
                    ConfigField(
                        "idle_ttl", seconds,
                        "seconds without requests before a model the router started is unloaded; 0: never",
                        default: .value(defaults.idleTTL)),
                    ConfigField(
                        "stream_idle_timeout", seconds,
                        "seconds without a byte from a server once its response began; 0: no limit",
                        default: .value(defaults.streamIdleTimeout)),
                    ConfigField(
                        "client_idle_timeout", seconds,
                        "seconds a client's connection may go without a request part while nothing is answered on it "
                            + "(idle keep-alive, a head or body that stops coming); then it is closed; 0: no limit",
                        default: .value(defaults.clientIdleTimeout)),
                    ConfigField(
                        "cors_origins", .array(.string(pattern: "^(\\*|[A-Za-z][A-Za-z0-9+.-]*://[^/\\s]+)$")),
                        "origins of web pages that may use the router from a browser (CORS): scheme://host[:port], "
                            + "scheme://host:* for any port, or * for any page",
                        default: .value(defaults.corsOrigins)),
                    ConfigField(
                        "allowed_hosts",
                        .array(.string(pattern: "^(\\*|\\.?[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?)$")),
                        "names besides this machine's (localhost, IP addresses, its host name) that requests may reach "
                            + "a loopback router by, against DNS rebinding: a name, .name for it and every name under "
                            + "it, or * for any", default: .value(defaults.allowedHosts)),
                ]),
                "the daemon's OpenAI-compatible port", default: .words("{}")),
        ]
    }()
}

/// The outcome of reading `llama-orch.json`: the settings (defaults when there is no file), or the issues.
public struct ProjectSettingsReport: Sendable {
    public var file: String
    /// Whether the file exists.
    public var exists: Bool
    public var settings: ProjectSettings?
    public var issues: [ConfigIssue]

    public var isValid: Bool { !issues.contains { $0.severity == .error } }

    /// The settings, or the errors as one `ConfigError`.
    public func get() throws(ConfigError) -> ProjectSettings {
        guard let settings, isValid else { throw ConfigError(file: file, issues: issues) }
        return settings
    }
}

extension ProjectSettings {
    /// Reads and validates `llama-orch.json` of `root`; no file means every default.
    public static func load(root: ProjectRoot) -> ProjectSettingsReport {
        let file = root.projectFile
        guard let data = FileManager.default.contents(atPath: file) else {
            let exists = FileManager.default.fileExists(atPath: file)
            return ProjectSettingsReport(
                file: file, exists: exists, settings: exists ? nil : ProjectSettings(),
                issues: exists ? [ConfigIssue(.error, path: "", message: "cannot read the file")] : [])
        }
        return validate(bytes: Array(data), file: file)
    }

    /// Validates the bytes of a project file.
    public static func validate(bytes: [UInt8], file: String) -> ProjectSettingsReport {
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            return ProjectSettingsReport(
                file: file, exists: true, settings: nil,
                issues: [ConfigIssue(.error, path: "", message: "invalid JSON: \(error.message)", at: error.position)])
        }
        guard case .object(let members) = root.value else {
            return ProjectSettingsReport(
                file: file, exists: true, settings: nil,
                issues: [
                    ConfigIssue(
                        .error, path: "", message: "expected a JSON object, found \(root.value.kindName)",
                        at: root.position)
                ])
        }
        var checker = ShapeChecker(knownNames: KnownNames(backends: []))
        checker.checkObject(members, fields: ProjectSpec.fields, path: "", position: root.position)
        var issues = checker.issues
        guard !issues.contains(where: { $0.severity == .error }) else {
            return ProjectSettingsReport(file: file, exists: true, settings: nil, issues: issues)
        }
        let settings: ProjectSettings
        do {
            settings = try JSONDecoder().decode(ProjectSettings.self, from: Data(bytes))
        } catch {
            issues.append(ConfigIssue(.error, path: "", message: "JSONDecoder refuses the file: \(error)"))
            return ProjectSettingsReport(file: file, exists: true, settings: nil, issues: issues)
        }
        let router = settings.router
        let position = ObjectReader(members: members).object("router")?.position("listen")
        if router.address == nil {
            issues.append(
                ConfigIssue(
                    .error, path: "router.listen", message: "\"\(router.listen)\" is not HOST:PORT with a port 1-65535",
                    at: position))
        } else if !router.isLoopback && router.apiKeys.isEmpty && !router.allowUnauthenticated {
            issues.append(
                ConfigIssue(
                    .error, path: "router.listen",
                    message:
                        "\(router.listen) is not a loopback address and router.api_keys is empty: anyone who reaches "
                        + "it could use every model; add api_keys, or set router.allow_unauthenticated to true",
                    at: position))
        }
        return ProjectSettingsReport(
            file: file, exists: true, settings: issues.contains { $0.severity == .error } ? nil : settings,
            issues: issues)
    }
}

extension ProjectSettings {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        router = try container.decodeIfPresent(Router.self, forKey: .router) ?? Router()
    }
}

extension ProjectRoot {
    /// The project's settings file: `llama-orch.json`.
    public var projectFile: String { path + "/" + ProjectSpec.fileName }
}
