import ArgumentParser
import ControlAPI
import Drivers
import Foundation
import OrchestratorCore
import Scheduler
import StateStore

/// `llama-orch describe`: everything known about one instance.
struct DescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show an instance's config, placement, exact command, runtime, recent events and health history.")

    @OptionGroup var global: RootOptions

    @Argument(help: "The instance.")
    var name: String

    @Flag(help: "Print JSON.")
    var json = false

    /// The JSON form.
    struct Description: Encodable {
        var status: InstanceStatus
        var config: InstanceConfig?
        var configIssues: [ConfigIssue]
        /// The current run, else the latest one.
        var run: RunInfo?
        var placement: String?
        var command: [String]?
        var events: [InstanceEvent]
        var health: [InstanceEvent]
    }

    func run() async throws {
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
            status: status, config: report.config, configIssues: report.issues, run: run,
            placement: run?.placementJSON, command: run?.argv, events: Array(events.suffix(20)), health: Array(health))
        if json { return try printJSON(description) }
        let now = Date().timeIntervalSince1970
        print("name: \(name)")
        print("state: \(status.state) (desired: \(status.desiredState)), health: \(status.health)")
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
            print("  pid \(run.pid), port \(run.port), started \(formatElapsed(now - run.startedAt)) ago")
            if let status = run.exitStatus { print("  exit status \(status)") }
            if let signal = run.exitSignal { print("  killed by signal \(signal)") }
            print("  restarts: \(status.restarts)")
            print("placement: \(run.placementJSON)")
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
