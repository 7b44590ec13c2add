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
        var command: [String]?
        var events: [Event]
        var health: [Event]

        enum CodingKeys: String, CodingKey {
            case status, config, run, placement, command, events, health
            case configIssues = "config_issues"
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
        let description = Description(
            status: status, config: report.config, configIssues: report.issues, run: run.map(Description.Run.init),
            placement: run?.placement,
            command: run?.argv,
            events: events.suffix(20).map(Description.Event.init), health: health.map(Description.Event.init))
        if json { return try printJSON(description) }
        let now = Date().timeIntervalSince1970
        print("name: \(name)")
        print(
            "state: \(status.state.rawValue) (desired: \(status.desiredState.rawValue)), "
                + "health: \(status.health.rawValue)")
        if let reason = status.reason { print("last change: \(reason)") }
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
                let shares = placement.shares.map { "\($0.llamaName ?? $0.deviceID) \(formatBytes($0.bytes))" }
                print(
                    "placement: \(placement.mode.rawValue) by \(run.backend ?? "?"): "
                        + (shares + ["host \(formatBytes(placement.hostBytes))"]).joined(separator: ", "))
            }
            print("command: \(run.argv.map(shellQuoted).joined(separator: " "))")
        } else {
            print("run: never started")
        }
        print("events:")
        for event in events.suffix(20) { print("  \(Self.time(event.time))  \(event.kind): \(event.message)") }
        print("health history:")
        for event in health { print("  \(Self.time(event.time))  \(event.message)") }
    }

    static func time(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}
