import OrchestratorCore

/// Everything needed to start one llama-server: the command line the scheduler built and where it listens.
///
/// The supervisor adds only the instance markers (`LLAMA_ORCH_INSTANCE`, `LLAMA_ORCH_RUN_ID`) to the
/// environment; it never goes through a shell.
public struct LaunchSpec: Sendable, Equatable {
    /// The command line; `argv[0]` is the executable's path.
    public var argv: [String]
    /// The server's whole environment (the caller decides what to inherit).
    public var environment: [String: String]
    /// The address the server listens on, for the port check and the probes.
    public var host: String
    public var port: Int
    /// Where the scheduler placed it and which backend driver did, recorded with the run.
    public var placement: Placement?
    public var backend: String?
    /// The folder the server starts in (`nil`: the supervisor's own).
    public var workingDirectory: String?
    /// What determined this command line, recorded with the run (`up` compares it with the files later).
    public var fingerprint: RunFingerprint?

    public init(
        argv: [String], environment: [String: String], host: String = "127.0.0.1", port: Int,
        placement: Placement? = nil, backend: String? = nil, workingDirectory: String? = nil,
        fingerprint: RunFingerprint? = nil
    ) {
        self.argv = argv
        self.environment = environment
        self.host = host
        self.port = port
        self.placement = placement
        self.backend = backend
        self.workingDirectory = workingDirectory
        self.fingerprint = fingerprint
    }
}
