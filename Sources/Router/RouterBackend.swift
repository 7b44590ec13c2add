import OrchestratorCore

/// One model the router can send requests to, as its config says.
public struct RoutableModel: Sendable, Equatable {
    /// The instance name.
    public var name: String
    public var aliases: [String]
    public var policy: LoadScheduler.Policy
    /// Where its llama-server listens.
    public var host: String
    public var port: Int
    public var contextSize: Int
    public var listed: Bool

    public init(
        name: String, aliases: [String] = [], policy: LoadScheduler.Policy = LoadScheduler.Policy(),
        host: String = "127.0.0.1", port: Int, contextSize: Int = 4096, listed: Bool = true
    ) {
        self.name = name
        self.aliases = aliases
        self.policy = policy
        self.host = host
        self.port = port
        self.contextSize = contextSize
        self.listed = listed
    }

    /// The model of an instance config; `defaultIdleTTL` is the project's `router.idle_ttl` (0: never).
    public init(config: InstanceConfig, defaultIdleTTL: Double) {
        let ttl = config.router.idleTTL ?? defaultIdleTTL
        self.init(
            name: config.name, aliases: config.router.aliases,
            policy: LoadScheduler.Policy(
                priority: config.router.priority, keepLoaded: config.router.keepLoaded,
                onDemand: config.router.onDemand, concurrencyLimit: config.concurrencyLimit,
                idleTTL: ttl > 0 ? .milliseconds(Int64((ttl * 1000).rounded())) : nil),
            host: config.server.host == "0.0.0.0" ? "127.0.0.1" : config.server.host, port: config.server.port,
            contextSize: config.model.contextSize, listed: config.router.listed)
    }
}

/// What the router asks of the daemon, which owns the instances.
public protocol RouterBackend: Sendable {
    /// The routable instances now: every valid config.
    func routableModels() async -> [RoutableModel]
    /// What the supervisor says of each instance now (those not listed are stopped).
    func currentStates() async -> [String: LoadScheduler.Observed]
    /// Memory: whether a model fits beside a set of residents, from the devices as they are now.
    func capacity(for models: [String]) async -> LoadScheduler.Fits
    /// Starts an instance for the router once its memory is free (bounded wait) and returns when it is healthy.
    /// - Throws: what went wrong, said for a user.
    func startForRouter(_ name: String) async throws
    /// Stops an instance the router unloads or evicts; returns once it has stopped.
    func stopForRouter(_ name: String, reason: LoadScheduler.UnloadReason) async
    /// One proxied request, to keep (the state store).
    func record(_ request: RouterRequestRecord) async
}
