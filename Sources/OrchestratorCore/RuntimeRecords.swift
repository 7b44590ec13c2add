import Foundation

/// The state an instance should be in, as the user last asked (`up` / `down`).
public enum DesiredState: String, Sendable, Codable {
    case running, stopped
}

/// One start of llama-server for an instance, as recorded when it started and when it ended.
public struct RunInfo: Sendable, Equatable, Codable {
    /// Row id in the state store.
    public var id: Int64
    public var instance: String
    /// The marker put in the server's environment (`LLAMA_ORCH_RUN_ID`).
    public var runID: String
    public var pid: Int32
    public var processGroup: Int32
    /// Start time of the process in clock ticks since boot (`/proc/<pid>/stat` field 22).
    public var processStartTime: UInt64
    public var port: Int
    public var argv: [String]
    public var environment: [String: String]
    /// Where the scheduler placed the run (`nil`: not recorded, or by a daemon whose record can't be read).
    public var placement: Placement?
    /// The backend driver that placed it (`vulkan`, `cpu`...).
    public var backend: String?
    public var startedAt: Double
    public var endedAt: Double?
    public var exitStatus: Int32?
    public var exitSignal: Int32?
    /// What determined the run (`nil`: recorded by a daemon that kept none).
    public var fingerprint: RunFingerprint?
    /// What the server reported it allocated once healthy (`nil`: not measured, or not yet).
    public var measured: MeasuredAllocation?
    /// Where this run's lines begin in its logs: what it reported is read from there, also by a daemon that
    /// re-adopts it before it was healthy.
    public var logOffsets: LogOffsets?

    public init(
        id: Int64 = 0, instance: String, runID: String, pid: Int32, processGroup: Int32, processStartTime: UInt64,
        port: Int, argv: [String], environment: [String: String], placement: Placement? = nil,
        backend: String? = nil, startedAt: Double, endedAt: Double? = nil, exitStatus: Int32? = nil,
        exitSignal: Int32? = nil, fingerprint: RunFingerprint? = nil, measured: MeasuredAllocation? = nil,
        logOffsets: LogOffsets? = nil
    ) {
        self.id = id
        self.instance = instance
        self.runID = runID
        self.pid = pid
        self.processGroup = processGroup
        self.processStartTime = processStartTime
        self.port = port
        self.argv = argv
        self.environment = environment
        self.placement = placement
        self.backend = backend
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
        self.fingerprint = fingerprint
        self.measured = measured
        self.logOffsets = logOffsets
    }

    /// Whether the run has no recorded end.
    public var isOpen: Bool { endedAt == nil }
}

/// The sizes of an instance's two logs just before a run's server was spawned: where its lines begin.
public struct LogOffsets: Sendable, Equatable, Codable {
    public var stdout: Int
    public var stderr: Int

    public init(stdout: Int, stderr: Int) {
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Something that happened to an instance: a state change, a restart, a failed probe.
public struct InstanceEvent: Sendable, Equatable, Codable {
    public var id: Int64
    /// Seconds since 1970.
    public var time: Double
    public var instance: String
    /// A short machine-readable kind (`state`, `started`, `exited`, `probe-failed`).
    public var kind: String
    public var message: String
    /// Extra facts (`pid`, `port`, `from`, `to`...), empty when none.
    public var details: [String: String]

    public init(
        id: Int64 = 0, time: Double, instance: String, kind: String, message: String,
        details: [String: String] = [:]
    ) {
        self.id = id
        self.time = time
        self.instance = instance
        self.kind = kind
        self.message = message
        self.details = details
    }
}
