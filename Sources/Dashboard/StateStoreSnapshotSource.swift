import Foundation
import Host
import OrchestratorCore
import Scheduler
import StateStore

/// The read-only view: snapshots built from `instances/*/config.json`, the state store and `/proc`, for when
/// the daemon is not running (or not reachable).
///
/// States come from the supervisor's `state` events (`details.to`), corrected by what is true now: a run
/// with no recorded end whose process is gone shows as `failed` with health `gone`; an instance with no
/// open run is `stopped` (or still `failed`). pid, port, placement and command come from the open run;
/// memory held on each device from the placements recorded with the open runs; the server's own figures
/// from its log. Nothing is written: a missing state store is not created.
public final class StateStoreSnapshotSource: SnapshotSource, @unchecked Sendable {
    public let root: ProjectRoot
    private let configs: @Sendable () -> [ConfigReport]
    private let devices: @Sendable () async -> [Device]
    private let now: @Sendable () -> Double
    private let deviceRefresh: Double
    /// Guards `store`, `cachedDevices` and `devicesAt`.
    private let lock = NSLock()
    private var store: StateStore?
    private var cachedDevices: [Device]?
    private var devicesAt = 0.0

    /// - Parameters:
    ///   - configs: the project's instance configs, validated (the CLI knows the driver names).
    ///   - devices: the device inventory; asked at most every `deviceRefresh` seconds.
    ///   - now: the time, seconds since 1970.
    public init(
        root: ProjectRoot, configs: @escaping @Sendable () -> [ConfigReport],
        devices: @escaping @Sendable () async -> [Device], deviceRefresh: Double = 10,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.root = root
        self.configs = configs
        self.devices = devices
        self.deviceRefresh = deviceRefresh
        self.now = now
    }

    public func snapshot(logTailOf focus: String?, logLines: Int) async throws -> DashboardSnapshot {
        let time = now()
        let devices = await currentDevices(at: time)
        var warnings: [String] = []
        let store: StateStore?
        do {
            store = try openStore()
        } catch {
            store = nil
            warnings.append(error.description)
        }
        let reports = configs()
        var names = reports.map(\.name)
        let openRuns = (try? store?.openRuns()) ?? []
        let desired = (try? store?.desiredStates()) ?? [:]
        for name in openRuns.map(\.instance) + desired.keys.sorted() where !names.contains(name) {
            names.append(name)
        }
        let traffic = (try? store?.routerTraffic(since: time - Self.trafficWindow, now: time)) ?? [:]
        var rows: [InstanceRow] = []
        var events: [String: [InstanceEvent]] = [:]
        for name in names {
            let report = reports.first { $0.name == name }
            let instanceEvents = (try? store?.events(of: name, limit: 30)) ?? []
            events[name] = instanceEvents
            let run = openRuns.last { $0.instance == name }
            let lastRun = run ?? (try? store?.runs(of: name, limit: 1))?.first
            var row = Self.row(
                name: name, config: report?.config, openRun: run, lastRun: lastRun, events: instanceEvents,
                restarts: (try? store?.restartCount(for: name)) ?? 0, desired: desired[name], devices: devices)
            if report != nil && report?.config == nil { row.model = "config invalid: 'llama-orch config validate'" }
            row.logPath = root.logDirectory(name) + "/stderr.log"
            row.traffic = traffic[name]
            // What the supervisor read from the server's log when it turned healthy, stored with the run.
            if row.pid != nil, let run, let measured = run.measured {
                row.reportedBytes = measured.totalBytes
                for excess in run.placement.map({ AllocationCheck.excesses($0, measured) }) ?? [] {
                    warnings.append("\(name): \(AllocationCheck.describe(excess))")
                }
            }
            rows.append(row)
        }
        for report in reports where !report.isValid {
            warnings.append("\(report.file): \(report.errors.count) error\(report.errors.count == 1 ? "" : "s")")
        }
        let running = rows.filter { $0.pid != nil }
        let usage = devices.map { device in
            DeviceUsage(
                id: device.id, name: Self.shortName(device), description: device.description,
                totalBytes: device.totalBytes, freeBytes: device.freeBytes,
                holdings: running.compactMap { row in
                    guard let placement = row.placement else { return nil }
                    // Measured once known, as placements count it.
                    let measured = openRuns.last { $0.instance == row.name }?.measured
                    let bytes = placement.heldBytes(deviceID: device.id, isHost: device.isHost, measured: measured)
                    return bytes > 0 ? DeviceUsage.Holding(instance: row.name, bytes: bytes) : nil
                })
        }
        let tail = focus.map { name in
            let path = root.logDirectory(name) + "/stderr.log"
            return LogTail(instance: name, path: path, lines: ServerLog.tail(path: path, count: logLines))
        }
        return DashboardSnapshot(
            time: time, daemon: daemonStatus(), devices: usage, instances: rows, events: events, logTail: tail,
            warnings: warnings)
    }

    /// The seconds over which the router's requests and tokens per second are counted.
    public static let trafficWindow = 60.0

    /// One instance's row from its config, runs, events and counters.
    static func row(
        name: String, config: InstanceConfig?, openRun: RunInfo?, lastRun: RunInfo?, events: [InstanceEvent],
        restarts: Int, desired: DesiredState?, devices: [Device]
    ) -> InstanceRow {
        var row = InstanceRow(name: name, state: .stopped, restarts: restarts, desired: desired)
        if let config {
            row.model = URL(fileURLWithPath: config.model.path).lastPathComponent
            row.contextSize = config.model.contextSize
            row.slots = config.server.parallel
            row.port = config.server.port
            row.backend = config.gpu.backend
        }
        let lastStateIndex = events.lastIndex { $0.kind == "state" }
        let recorded = lastStateIndex.flatMap { stateAfter(events[$0]) }
        let alive = openRun.map { ProcessLiveness.isAlive(pid: $0.pid, startTime: $0.processStartTime) } ?? false
        if let run = lastRun {
            row.command = run.argv
            row.placement = run.placement
        }
        if let placement = row.placement {
            if placement.shares.isEmpty {
                row.device = "host"
                if row.backend == "auto" { row.backend = "cpu" }
            } else {
                row.device = placement.shares.map { $0.llamaName ?? $0.deviceID }.joined(separator: "+")
                if let backend = devices.first(where: { $0.id == placement.shares[0].deviceID })?.backend {
                    row.backend = backend
                }
            }
        }
        if let run = openRun, alive {
            row.state = recorded ?? .starting
            row.pid = run.pid
            row.port = run.port
            row.startedAt = run.startedAt
            row.estimatedBytes = row.placement.map { placement in
                placement.shares.reduce(placement.hostBytes) { $0 + $1.bytes }
            }
            let failures = events[(lastStateIndex.map { $0 + 1 } ?? 0)...].last { $0.kind == "probe-failed" }
            row.health = health(row.state, failures: failures)
        } else if openRun != nil {
            row.state = .failed
            row.health = "gone"
        } else {
            row.state = recorded == .failed ? .failed : .stopped
        }
        return row
    }

    /// The state a `state` event moved to: `details.to`, else the word after `→` in the message.
    static func stateAfter(_ event: InstanceEvent) -> InstanceState? {
        if let to = event.details["to"], let state = InstanceState(rawValue: to) {
            return state
        }
        guard let arrow = event.message.range(of: "→ ") else { return nil }
        let word = event.message[arrow.upperBound...].prefix { $0.isLetter }
        return InstanceState(rawValue: String(word))
    }

    static func health(_ state: InstanceState, failures: InstanceEvent?) -> String {
        if let failures,
            let count = failures.details["failures"]
        {
            return "\(count) failed"
        }
        switch state {
        case .healthy: return "ok"
        case .loading: return "loading"
        case .starting: return "starting"
        case .unhealthy: return "failing"
        case .restarting, .stopped, .failed: return "-"
        }
    }

    static func shortName(_ device: Device) -> String {
        device.isHost ? "host" : device.llamaName ?? device.rawIndex.map { "#\($0)" } ?? device.id
    }

    /// The daemon as `state/daemon.pid` tells it: this source never talks to it, so the view is read-only.
    func daemonStatus() -> DaemonStatus {
        let pidFile = root.stateDirectory + "/daemon.pid"
        if let data = FileManager.default.contents(atPath: pidFile),
            let pid = Int32(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            ProcessLiveness.isAlive(pid: pid, startTime: 0)
        {
            return DaemonStatus(
                running: false, summary: "pid \(pid), not reachable",
                banner: "daemon (pid \(pid)) not reachable: read-only view from state/state.sqlite")
        }
        return DaemonStatus(
            running: false, summary: "not running", banner: "daemon not running: read-only view from state/state.sqlite"
        )
    }

    private func openStore() throws(StateStoreError) -> StateStore? {
        lock.lock()
        defer { lock.unlock() }
        if let store { return store }
        guard FileManager.default.fileExists(atPath: root.stateDatabase) else { return nil }
        let opened = try StateStore.open(path: root.stateDatabase).store
        store = opened
        return opened
    }

    private func currentDevices(at time: Double) async -> [Device] {
        let cached: [Device]? = lock.withLock {
            guard let cachedDevices, time - devicesAt < deviceRefresh else { return nil }
            return cachedDevices
        }
        if let cached { return cached }
        let fresh = await devices()
        lock.withLock {
            cachedDevices = fresh
            devicesAt = time
        }
        return fresh
    }
}
