import ArgumentParser
import ControlAPI
import Foundation
import OrchestratorCore

/// `llama-orch down`: stop instances through the daemon.
struct DownCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Stop instances; returns when nothing of them is left.",
        discussion: """
            SIGTERM to each server's process group, SIGCONT, the grace period, SIGKILL; returns once no process \
            of the group is left. The desired state becomes 'stopped'. --all also stops processes that carry an \
            instance marker of this root but no recorded run.
            """)

    @OptionGroup var global: RootOptions

    @Argument(help: "Instances to stop.")
    var names: [String] = []

    @Flag(name: .long, help: "Every instance the daemon knows.")
    var all = false

    @Option(name: .long, help: "Seconds to wait for the daemon's answer.")
    var timeout: Double = 600

    func validate() throws {
        if names.isEmpty && !all { throw ValidationError("name at least one instance, or pass --all") }
        try validateTimeout(timeout)
    }

    func execute() async throws {
        try InstanceNameError.check(names)
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root, timeout: .seconds(timeout))
        try DaemonConnection.report(try await client.down(InstancesRequest(names: names, all: all)))
    }
}

/// `llama-orch restart`: stop and start again, placed anew from the current config.
struct RestartCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart",
        abstract: "Stop instances and start them again (placed anew, with a fresh restart count).")

    @OptionGroup var global: RootOptions

    @Argument(help: "Instances to restart.")
    var names: [String]

    @Flag(name: .long, help: "Wait until every restarted instance is healthy (as up --wait).")
    var wait = false

    @Option(name: .long, help: "Seconds to wait with --wait.")
    var timeout: Double = 300

    func validate() throws {
        try validateTimeout(timeout)
    }

    func execute() async throws {
        try InstanceNameError.check(names)
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root)
        let response = try await client.restart(InstancesRequest(names: names))
        var failure: Int32?
        do {
            try DaemonConnection.report(response)
        } catch let error as ExitCode {
            failure = error.rawValue
        }
        let started = response.outcomes.filter { $0.result != .failed }.map(\.name)
        if wait, let code = try await WaitForHealth.untilHealthy(started, client: client, root: root, timeout: timeout)
        {
            failure = failure ?? code
        }
        if let failure { throw ExitCode(failure) }
    }
}
