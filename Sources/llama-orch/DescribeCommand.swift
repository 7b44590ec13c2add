import ArgumentParser
import ControlAPI
import Drivers
import Foundation
import OrchestratorCore
import Scheduler
import StateStore

/// `llama-orch describe`: everything known about one instance.
struct DescribeCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show an instance's config, placement, exact command, runtime, recent events and health history.")

    @OptionGroup var global: RootOptions

    @Argument(help: "The instance.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    /// The JSON form: snake_case keys throughout, and the recorded placement and event details as JSON
    /// objects (not JSON text inside a string).
    struct Description: Encodable {
        var status: InstanceStatus
        var config: InstanceConfig?
        var configIssues: [ConfigIssue]
        /// The current run, else the latest one.
        var run: Run?
        var placement: Placement?
        /// What the server reported it allocated (the current or latest run), when measured.
        var measured: MeasuredAllocation?
        /// Estimate against measured, per device (`host` for host memory), when measured.
        var memory: [MemoryRow]?
        var command: [String]?
        var events: [Event]
        var health: [Event]

        enum CodingKeys: String, CodingKey {
            case status, config, run, placement, measured, memory, command, events, health
            case configIssues = "config_issues"
        }

        /// One device's estimate and measurement.
        struct MemoryRow: Encodable {
            var device: String
            var estimatedBytes: UInt64
            var measuredBytes: UInt64
            /// More than `AllocationCheck.tolerance` over the estimate.
            var exceeded: Bool

            enum CodingKeys: String, CodingKey {
                case device, exceeded
                case estimatedBytes = "estimated_bytes"
                case measuredBytes = "measured_bytes"
            }
        }

        /// A run as recorded, less its environment (the daemon's, which may hold secrets such as tokens).
        struct Run: Encodable {
            var runID: String
            var pid: Int32
            var processGroup: Int32
            var processStartTime: UInt64
            var port: Int
            var argv: [String]
            var startedAt: Double
            var endedAt: Double?
            var exitStatus: Int32?
            var exitSignal: Int32?
            var open: Bool

            init(_ run: RunInfo) {
                runID = run.runID
                pid = run.pid
                processGroup = run.processGroup
                processStartTime = run.processStartTime
                port = run.port
                argv = run.argv
                startedAt = run.startedAt
                endedAt = run.endedAt
                exitStatus = run.exitStatus
                exitSignal = run.exitSignal
                open = run.isOpen
            }

            enum CodingKeys: String, CodingKey {
                case pid, port, argv, open
                case runID = "run_id"
                case processGroup = "process_group"
                case processStartTime = "process_start_time"
                case startedAt = "started_at"
                case endedAt = "ended_at"
                case exitStatus = "exit_status"
                case exitSignal = "exit_signal"
            }
        }

        struct Event: Encodable {
            var time: Double
            var kind: String
            var message: String
            /// The event's facts (`pid`, `port`, ...), as recorded.
            var details: [String: String]

            init(_ event: InstanceEvent) {
                time = event.time
                kind = event.kind
                message = event.message
                details = event.details
            }
        }
    }

    func execute() async throws {
        try InstanceNameError.check([name])
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root)
        let status = try await client.instance(named: name)
        let report = ConfigValidator(knownNames: KnownNames(backends: DriverCatalog.registry().names))
            .validate(instance: name, in: root)
        let store = try StateStore.open(path: root.stateDatabase).store
        let run = try store.runs(of: name, limit: 1).first
        let events = try store.events(of: name, limit: 200)
        let health = events.filter { $0.kind == "state" || $0.kind == "probe-failed" }.suffix(20)
        var memory: [Description.MemoryRow]?
        if let placement = run?.placement, let measured = run?.measured {
            memory = AllocationCheck.compare(placement, measured).map { row in
                Description.MemoryRow(
                    device: row.device, estimatedBytes: row.estimated, measuredBytes: row.measured,
                    exceeded: Double(row.measured) > Double(row.estimated) * (1 + AllocationCheck.tolerance))
            }
        }
        let description = Description(
            status: status, config: report.config, configIssues: report.issues, run: run.map(Description.Run.init),
            placement: run?.placement, measured: run?.measured, memory: memory,
            command: run?.argv,
            events: events.suffix(20).map(Description.Event.init), health: health.map(Description.Event.init))
        if json { return try printJSON(description) }
        let now = Date().timeIntervalSince1970
        print("name: \(name)")
        print(
            "state: \(status.state.rawValue) (desired: \(status.desiredState.rawValue)), "
                + "health: \(status.health.rawValue)")
        if let reason = status.reason { print("last change: \(reason)") }
        if let router = status.router {
            // `router: loaded · started by the router · 2 busy · unload in 9m`
            var parts = [router.status]
            if router.status != "unloaded" {
                parts.append(router.startedByRouter ? "started by the router" : "started with up")
            }
            parts += router.activity(at: now)
            print("router: " + parts.joined(separator: " · "))
        }
        print("config: \(root.configFile(name))\(report.isValid ? "" : " (invalid)")")
        for issue in report.issues { print("  \(issue.severity.rawValue): \(issue)") }
        if let config = report.config {
            print(
                "  model \(config.model.path), context \(config.model.contextSize), port \(config.server.port), "
                    + "backend \(config.gpu.backend), healthcheck \(config.healthcheck.type), "
                    + "restart \(config.restartPolicy.type) (max \(config.restartPolicy.maxRetries))")
        }
        if let run {
            print("run: \(run.runID)\(run.isOpen ? "" : " (ended)")")
            print("  pid \(run.pid), port \(run.port), started \(ElapsedTime.text(now - run.startedAt)) ago")
            if let status = run.exitStatus { print("  exit status \(status)") }
            if let signal = run.exitSignal { print("  killed by signal \(signal)") }
            print("  restarts: \(status.restarts)")
            if let placement = run.placement {
                print("placement (by \(run.backend ?? "?")):")
                for line in PlanRenderer.placementLines(placement) { print("  \(line)") }
                Self.printMemory(placement: placement, run: run, events: events)
            }
            print("command: \(run.argv.map(shellQuoted).joined(separator: " "))")
            if let changes = status.configChanges {
                print("differs from what runs ('llama-orch up \(name)' recreates it):")
                for change in changes { print("  \(change)") }
            }
        } else {
            print("run: never started")
        }
        print("events:")
        for event in events.suffix(20) { print("  \(Self.time(event.time))  \(event.kind): \(event.message)") }
        print("health history:")
        for event in health { print("  \(Self.time(event.time))  \(event.message)") }
    }

    /// Estimate against what the server reported, per device, with a warning where it is more than 10 % over.
    static func printMemory(placement: Placement, run: RunInfo, events: [InstanceEvent]) {
        guard let measured = run.measured else {
            let reason =
                run.isOpen
                ? events.last { $0.kind == "not-measured" }?.message ?? "not yet (measured once the server is healthy)"
                : "the run ended before it was"
            print("memory: not measured: \(reason)")
            return
        }
        print("memory (estimate → measured, from the \(measured.source)):")
        let rows = AllocationCheck.compare(placement, measured)
        let width = rows.map(\.device.count).max() ?? 4
        for row in rows {
            let change =
                row.estimated == 0
                ? "" : String(format: " (%+.1f %%)", (Double(row.measured) / Double(row.estimated) - 1) * 100)
            print(
                "  \(row.device.padding(toLength: width, withPad: " ", startingAt: 0))  "
                    + "\(AllocationCheck.mib(row.estimated)) → \(AllocationCheck.mib(row.measured))\(change)")
        }
        for excess in AllocationCheck.excesses(placement, measured) {
            print("  warning: \(AllocationCheck.describe(excess))")
        }
    }

    static func time(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
