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

    func execute() async throws {
        try InstanceNameError.check(names)
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root)
        try DaemonConnection.report(try await client.restart(InstancesRequest(names: names)))
    }
}
