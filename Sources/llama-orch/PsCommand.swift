import ArgumentParser
import ControlAPI
import Foundation
import OrchestratorCore

/// `llama-orch ps`: the instances the daemon supervises.
struct PsCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "List the supervised instances (-a: every instance under instances/).")

    @OptionGroup var global: RootOptions

    @Flag(name: [.customShort("a"), .long], help: "Include stopped and never-started instances.")
    var all = false

    @Flag(help: "Print JSON.")
    var json = false

    func execute() async throws {
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root)
        // The daemon's answer is already what --json prints: nothing to decode and encode again.
        if json { return printJSON(bytes: try client.instancesJSONBlocking(all: all)) }
        let list = try client.instancesBlocking(all: all)
        let now = Date().timeIntervalSince1970
        let rows = list.map { status -> [String] in
            let placed = [status.backend, status.devices].compactMap { $0 }.joined(separator: ":")
            return [
                status.name + (status.configChanges == nil ? "" : "*"), status.state.rawValue, status.health.rawValue,
                status.pid.map { "\($0)" } ?? "-",
                status.port.map { "\($0)" } ?? "-", placed.isEmpty ? "-" : placed,
                status.model.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "-",
                status.startedAt.map { ElapsedTime.text(now - $0) } ?? "-", "\(status.restarts)",
                Self.routerColumn(status.router, now: now),
            ]
        }
        printTable(
            header: [
                "NAME", "STATE", "HEALTH", "PID", "PORT", "BACKEND:DEVICE", "MODEL", "UPTIME", "RESTARTS", "ROUTER",
            ],
            rows: rows)
        if list.contains(where: { $0.configChanges != nil }) {
            printError("* runs with an older config, model file or binary: 'llama-orch up NAME' recreates it")
        }
    }

    /// What the router does with an instance (`RouterInstanceStatus.summary`); `-` without a router.
    static func routerColumn(_ router: RouterInstanceStatus?, now: Double) -> String {
        router?.summary(at: now) ?? "-"
    }
}

/// `llama-orch health`: the health of instances, once or as it changes.
struct HealthCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Show instances' health: exit 0 when every one is healthy, 1 otherwise.",
        discussion: "With --watch, prints a line whenever an instance's state changes, until interrupted.")

    @OptionGroup var global: RootOptions

    @Argument(help: "The instance.")
    var name: String?

    @Flag(name: .long, help: "Every supervised instance.")
    var all = false

    @Flag(name: .long, help: "Keep watching and print each change.")
    var watch = false

    @Flag(help: "Print JSON (one document, or one line per change with --watch).")
    var json = false

    func validate() throws {
        if (name == nil) == !all { throw ValidationError("name one instance, or pass --all") }
    }

    func execute() async throws {
        try InstanceNameError.check(name.map { [$0] } ?? [])
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root)
        var previous: [String: InstanceStatus.State] = [:]
        while true {
            var list = all ? try await client.instances(all: false) : [try await client.instance(named: name ?? "")]
            let now = Date().timeIntervalSince1970
            if watch && all {
                // The list holds supervised instances only: one that left it was stopped, and that is a change.
                let listed = Set(list.map(\.name))
                for gone in previous.keys.sorted() where !listed.contains(gone) && previous[gone] != .stopped {
                    if let status = try? await client.instance(named: gone) {
                        list.append(status)
                    } else {
                        previous.removeValue(forKey: gone)
                    }
                }
            }
            for status in list where previous[status.name] != status.state {
                previous[status.name] = status.state
                if json && watch {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(status), as: UTF8.self))
                } else if !json {
                    let since = status.since.map { " for \(ElapsedTime.text(now - $0))" } ?? ""
                    print("\(status.name): \(status.state.rawValue)\(since)\(status.reason.map { ": \($0)" } ?? "")")
                }
            }
            // Each change as it happens, also into a pipe or a file (stdout is block-buffered there).
            if watch { fflush(nil) }
            if !watch {
                if json { try printJSON(list) }
                if list.isEmpty || list.contains(where: { $0.health != .healthy }) { throw ExitCode(1) }
                return
            }
            try await Task.sleep(for: .seconds(1))
        }
    }
}
