import ControlAPI
import OrchestratorCore
import Scheduler

/// Everything one frame of the dashboard shows, gathered at one moment: the daemon, the devices and what each
/// instance holds on them, one row per instance, and the latest events.
///
/// A value with no behaviour: sources build it (`SnapshotSource`), `DashboardRenderer` draws it, `--json` prints
/// it. Times are seconds since 1970, so a snapshot renders the same whenever it is rendered.
public struct DashboardSnapshot: Sendable, Codable, Equatable {
    /// When the snapshot was taken; uptimes are measured against it.
    public var time: Double
    public var daemon: DaemonStatus
    public var devices: [DeviceUsage]
    public var instances: [InstanceRow]
    /// The latest events of each instance, oldest first.
    public var events: [String: [InstanceEvent]]
    /// The end of one instance's log, when the view asked for it (detail and log views).
    public var logTail: LogTail?
    /// Things the source could not read, for people ("cannot read instances/x/config.json: ...").
    public var warnings: [String]

    public init(
        time: Double, daemon: DaemonStatus, devices: [DeviceUsage] = [], instances: [InstanceRow] = [],
        events: [String: [InstanceEvent]] = [:], logTail: LogTail? = nil, warnings: [String] = []
    ) {
        self.time = time
        self.daemon = daemon
        self.devices = devices
        self.instances = instances
        self.events = events
        self.logTail = logTail
        self.warnings = warnings
    }

    /// How many instances are in each state, in the order of `InstanceState.allCases`, zeros left out.
    public var countsByState: [(state: InstanceState, count: Int)] {
        InstanceState.allCases.compactMap { state in
            let count = instances.filter { $0.state == state }.count
            return count > 0 ? (state, count) : nil
        }
    }
}

/// Whether the daemon answers, and what the dashboard can do because of it.
public struct DaemonStatus: Sendable, Codable, Equatable {
    /// Whether the daemon is running and this view comes from its API.
    public var running: Bool
    /// One short phrase for the header: "running (pid 812)", "not running".
    public var summary: String
    /// A line shown above everything when set: the view is read-only and why.
    public var banner: String?

    public init(running: Bool, summary: String, banner: String? = nil) {
        self.running = running
        self.summary = summary
        self.banner = banner
    }
}

/// One device's memory: its size, what is free, and what each instance holds on it.
public struct DeviceUsage: Sendable, Codable, Equatable {
    /// The driver's stable id (`Device.id`).
    public var id: String
    /// The short name shown in the gauge: llama.cpp's name (`Vulkan0`) or `host`.
    public var name: String
    public var description: String
    public var totalBytes: UInt64
    /// Free memory as the driver reported it, when known.
    public var freeBytes: UInt64?
    /// Bytes each running instance holds here, by the placement recorded with its run.
    public var holdings: [Holding]

    public init(
        id: String, name: String, description: String = "", totalBytes: UInt64, freeBytes: UInt64?,
        holdings: [Holding] = []
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.totalBytes = totalBytes
        self.freeBytes = freeBytes
        self.holdings = holdings
    }

    /// Bytes held by the instances shown.
    public var heldBytes: UInt64 { holdings.reduce(0) { $0 + $1.bytes } }

    /// Bytes in use by something else (other programs, instances not in this project): total less free less
    /// held, when free is known.
    public var otherBytes: UInt64 {
        guard let freeBytes else { return 0 }
        return totalBytes.subtractingClamped(freeBytes).subtractingClamped(heldBytes)
    }

    /// Bytes held by one instance on a device.
    public struct Holding: Sendable, Codable, Equatable {
        public var instance: String
        public var bytes: UInt64

        public init(instance: String, bytes: UInt64) {
            self.instance = instance
            self.bytes = bytes
        }
    }
}

/// One instance as the table shows it.
public struct InstanceRow: Sendable, Codable, Equatable {
    public var name: String
    public var state: InstanceState
    /// The health in a word or two: `ok`, `loading`, `2/3 failed`, `gone`, `-`.
    public var health: String
    public var pid: Int32?
    public var port: Int?
    /// The backend driver (`vulkan`, `cpu`, or the config's `auto` when nothing ran yet).
    public var backend: String
    /// Where it runs: llama.cpp device names joined by `+`, `host` for the CPU, `-` when unknown.
    public var device: String
    /// The model file's name.
    public var model: String
    public var contextSize: Int?
    public var slots: Int?
    /// What the scheduler estimated the instance holds (all devices and the host), from the run's placement.
    public var estimatedBytes: UInt64?
    /// What the server reported it allocated (its buffer sizes), when known.
    public var reportedBytes: UInt64?
    /// When the current run started; `nil` when not running.
    public var startedAt: Double?
    /// Restarts since the count was last reset (the restart policy's counter).
    public var restarts: Int
    /// What the user last asked: running or stopped.
    public var desired: DesiredState?
    /// The server's command line, as it was started.
    public var command: [String]
    /// The placement recorded with the run.
    public var placement: Placement?
    /// The stderr log file.
    public var logPath: String?
    /// What the router does with it (who started it, requests in flight and queued, when it unloads); from the
    /// daemon, `nil` without one.
    public var router: RouterInstanceStatus?
    /// What the router served for it over the last minute, from the state store.
    public var traffic: RouterTraffic?

    public init(
        name: String, state: InstanceState, health: String = "-", pid: Int32? = nil, port: Int? = nil,
        backend: String = "-", device: String = "-", model: String = "-", contextSize: Int? = nil,
        slots: Int? = nil, estimatedBytes: UInt64? = nil, reportedBytes: UInt64? = nil, startedAt: Double? = nil,
        restarts: Int = 0, desired: DesiredState? = nil, command: [String] = [], placement: Placement? = nil,
        logPath: String? = nil, router: RouterInstanceStatus? = nil, traffic: RouterTraffic? = nil
    ) {
        self.name = name
        self.state = state
        self.health = health
        self.pid = pid
        self.port = port
        self.backend = backend
        self.device = device
        self.model = model
        self.contextSize = contextSize
        self.slots = slots
        self.estimatedBytes = estimatedBytes
        self.reportedBytes = reportedBytes
        self.startedAt = startedAt
        self.restarts = restarts
        self.desired = desired
        self.command = command
        self.placement = placement
        self.logPath = logPath
        self.router = router
        self.traffic = traffic
    }

    /// Seconds the current run has been up at `time`, when running.
    public func uptime(at time: Double) -> Double? {
        startedAt.map { max(0, time - $0) }
    }

    /// Whether the instance restarts again and again: failed or restarting, or restarted at least twice.
    public var isCrashLooping: Bool { restarts >= 2 || (restarts >= 1 && state != .healthy) }
}

/// The last lines of one instance's log.
public struct LogTail: Sendable, Codable, Equatable {
    public var instance: String
    public var path: String
    public var lines: [String]

    public init(instance: String, path: String, lines: [String]) {
        self.instance = instance
        self.path = path
        self.lines = lines
    }
}
