import ControlAPI
import Foundation
import OrchestratorCore
import Scheduler

/// The live view: instance states, health, pids, ports, placements and restart counts from the daemon's
/// control API (what `ps -a` shows), with what the API does not carry taken from the read-only source:
/// the recorded placements (memory held on each device), configs (context, slots), events and the log tail.
///
/// When the daemon stops answering mid-session, snapshots come from the read-only source alone, under its
/// banner, until it answers again.
public struct DaemonSnapshotSource: SnapshotSource {
    /// The control API client; its timeout bounds each refresh.
    public let client: ControlClient
    /// The state store and `/proc` view the daemon's answer is laid over.
    public let base: StateStoreSnapshotSource

    /// - Parameters:
    ///   - client: the daemon's control API (`state/daemon.sock`).
    ///   - base: the read-only source of the same root: placements, configs, events, logs, devices.
    public init(client: ControlClient, base: StateStoreSnapshotSource) {
        self.client = client
        self.base = base
    }

    public func snapshot(logTailOf focus: String?, logLines: Int) async throws -> DashboardSnapshot {
        let snapshot = try await base.snapshot(logTailOf: focus, logLines: logLines)
        let info: DaemonInfo
        let statuses: [InstanceStatus]
        do {
            info = try await client.daemonInfo()
            statuses = try await client.instances(all: true)
        } catch {
            return snapshot
        }
        return Self.merge(snapshot, info: info, statuses: statuses)
    }

    /// Lays the daemon's answer over a read-only snapshot: one row per instance the daemon lists, in its
    /// order, with its state, health, pid, port, backend, devices, model, start time, restarts and desired
    /// state; the recorded placement, context, slots, command and log figures kept from `base`. Devices hold
    /// only what instances with a server (by the daemon) hold.
    public static func merge(
        _ base: DashboardSnapshot, info: DaemonInfo, statuses: [InstanceStatus]
    ) -> DashboardSnapshot {
        var snapshot = base
        snapshot.daemon = DaemonStatus(running: true, summary: "running (pid \(info.pid))", banner: nil)
        snapshot.instances = statuses.map { status in
            row(status, base: base.instances.first { $0.name == status.name })
        }
        let running = Set(snapshot.instances.filter { $0.pid != nil }.map(\.name))
        for index in snapshot.devices.indices {
            snapshot.devices[index].holdings.removeAll { !running.contains($0.instance) }
        }
        return snapshot
    }

    /// One row from the daemon's status of an instance and the read-only row of the same name.
    static func row(_ status: InstanceStatus, base: InstanceRow?) -> InstanceRow {
        var row = base ?? InstanceRow(name: status.name, state: .stopped)
        row.state = state(status.state)
        row.health = health(status, base: base)
        row.pid = status.pid
        row.port = status.port ?? row.port
        if let backend = status.backend { row.backend = backend }
        if let devices = status.devices, !devices.isEmpty {
            row.device = devices.split(separator: ",").joined(separator: "+")
        }
        if status.state == .invalid {
            row.model = "config invalid: 'llama-orch config validate'"
        } else if let model = status.model {
            row.model = URL(fileURLWithPath: model).lastPathComponent
        }
        row.restarts = status.restarts
        row.desired = status.desiredState
        row.router = status.router
        if status.pid != nil {
            row.startedAt = status.startedAt ?? row.startedAt
            row.reportedBytes = status.measuredBytes ?? row.reportedBytes
            if row.estimatedBytes == nil {
                row.estimatedBytes = row.placement.map { placement in
                    placement.shares.reduce(placement.hostBytes) { $0 + $1.bytes }
                }
            }
        } else {
            row.startedAt = nil
            row.estimatedBytes = nil
            row.reportedBytes = nil
        }
        return row
    }

    /// The dashboard's state for the daemon's word: `queued` waits to start, `invalid` cannot.
    static func state(_ state: InstanceStatus.State) -> InstanceState {
        state.instanceState ?? (state == .queued ? .starting : .failed)
    }

    /// The health column: `ok` when healthy, the failed-probe count the events recorded when failing,
    /// `queued` for an instance waiting its turn, the state's word while it starts, `-` without a server.
    static func health(_ status: InstanceStatus, base: InstanceRow?) -> String {
        if status.state == .queued { return "queued" }
        if status.state == .invalid { return "invalid" }
        switch status.health {
        case .healthy: return "ok"
        case .unhealthy:
            if let base, base.health.hasSuffix(" failed") { return base.health }
            return "failing"
        case .starting:
            if let base, base.health.hasSuffix(" failed") { return base.health }
            return status.state == .loading ? "loading" : "starting"
        case .notRunning: return "-"
        }
    }
}

/// The dashboard's `r`, `u` and `d` keys through the daemon: the same control API calls as `llama-orch
/// restart`, `up` and `down`.
public struct DaemonInstanceActions: InstanceActions {
    /// The control API client; its timeout bounds one action (a `down` waits for the grace period).
    public let client: ControlClient

    public init(client: ControlClient) {
        self.client = client
    }

    public func restart(_ instance: String) async throws -> String {
        try Self.line(try await client.restart(InstancesRequest(names: [instance])), action: "restart")
    }

    public func up(_ instance: String) async throws -> String {
        try Self.line(try await client.up(InstancesRequest(names: [instance])), action: "up")
    }

    public func down(_ instance: String) async throws -> String {
        try Self.line(try await client.down(InstancesRequest(names: [instance])), action: "down")
    }

    /// The line to show for the daemon's answer, `NAME: RESULT: MESSAGE` as the CLI prints it; a refusal is
    /// thrown with its message (the dashboard shows it).
    static func line(_ response: InstancesResponse, action: String) throws -> String {
        guard let outcome = response.outcomes.first else { return "\(action): nothing to do" }
        if outcome.result == .failed { throw Refused(description: "\(action) \(outcome.name): \(outcome.message)") }
        return response.outcomes.map { "\($0.name): \($0.result.rawValue): \($0.message)" }.joined(separator: "; ")
    }

    /// The daemon refused an action; the description is the line to show.
    struct Refused: Error, CustomStringConvertible {
        var description: String
    }
}
