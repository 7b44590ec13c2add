import ArgumentParser
import ControlAPI
import Daemon
import Foundation
import OrchestratorCore

/// `llama-orch daemon start|stop|status`: the supervisor daemon of a project root.
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Start, stop or inspect the supervisor daemon of the project root.",
        subcommands: [DaemonStartCommand.self, DaemonStopCommand.self, DaemonStatusCommand.self])
}

struct DaemonStartCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start the daemon (in the background unless --foreground).",
        discussion: """
            One daemon per project root (state/daemon.lock). It re-adopts the servers a previous daemon left \
            running, serves the control API on state/daemon.sock, and starts the instances marked autostart and \
            those last brought up whose restart policy says so. In the background its output goes to \
            logs/daemon.log. SIGTERM or SIGINT end it and leave the servers running; 'daemon stop' stops them.
            """)

    @OptionGroup var global: RootOptions

    @Flag(name: .long, help: "Run in this process (what the boot unit runs) instead of in the background.")
    var foreground = false

    func execute() async throws {
        let root = try global.projectRoot()
        if foreground {
            try await DaemonRunner.run(root: root, environment: global.environment)
            return
        }
        let client = ControlClient(socketPath: root.daemonSocket, timeout: .seconds(5))
        if let info = try? await client.daemonInfo() {
            print("the daemon already runs (pid \(info.pid))")
            return
        }
        let child = try DaemonLauncher.spawnBackground(root: root)
        let info = try await DaemonLauncher.waitUntilAnswering(root: root, child: child)
        print(info.pid == child ? "started the daemon (pid \(info.pid))" : "the daemon already runs (pid \(info.pid))")
    }
}

struct DaemonStopCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop the instances, then the daemon (--keep-instances leaves the servers running).",
        discussion: """
            Returns once the daemon's process is gone. Without --keep-instances every server is stopped first \
            (their desired state is kept: the next daemon starts them again); with it they keep running and \
            the next daemon re-adopts them, and a request in flight through the router gets 10 s to end (a \
            stream is then cut with an error event).
            """)

    @OptionGroup var global: RootOptions

    @Flag(name: .long, help: "Leave the servers running for the next daemon to re-adopt.")
    var keepInstances = false

    @Option(name: .long, help: "Seconds to wait for the daemon to exit.")
    var timeout: Double = 120

    func validate() throws {
        try validateTimeout(timeout)
    }

    func execute() async throws {
        let root = try global.projectRoot()
        let client = ControlClient(socketPath: root.daemonSocket, timeout: .seconds(timeout))
        guard let info = try? await client.daemonInfo() else {
            print("no daemon runs for \(root.path)")
            return
        }
        try await client.stopDaemon(keepInstances: keepInstances)
        let deadline = ContinuousClock.now + .seconds(timeout)
        while processExists(info.pid) {
            guard ContinuousClock.now < deadline else {
                throw CLIError(.failure, "the daemon (pid \(info.pid)) did not exit within \(Int(timeout)) s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        print("stopped the daemon (pid \(info.pid))\(keepInstances ? "; the instances keep running" : "")")
    }
}

/// Whether `pid` names a live process (not a zombie).
func processExists(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 || errno == EPERM else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return true }
    return stat[stat.index(close, offsetBy: 2)] != "Z"
}

struct DaemonStatusCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Whether the daemon runs: pid, socket, uptime, instances supervised. Exit 69 when it doesn't.")

    @OptionGroup var global: RootOptions

    @Flag(help: "Print JSON.")
    var json = false

    func execute() async throws {
        let root = try global.projectRoot()
        let client = ControlClient(socketPath: root.daemonSocket, timeout: .seconds(5))
        guard let info = try? await client.daemonInfo() else {
            if json {
                try printJSON(DaemonStatusJSON(info: nil))
            } else {
                print("no daemon runs for \(root.path)")
            }
            throw ExitCode(OrchestratorExitCode.daemonUnreachable.rawValue)
        }
        if json { return try printJSON(DaemonStatusJSON(info: info)) }
        print("daemon: running, pid \(info.pid), version \(info.version)")
        print("root: \(info.root)")
        print("socket: \(root.daemonSocket)")
        print("up: \(ElapsedTime.text(Date().timeIntervalSince1970 - info.startedAt))")
        print("instances supervised: \(info.supervised)")
        for warning in info.warnings { print("warning: \(warning)") }
    }
}

/// `daemon status --json`: one shape whether or not a daemon runs: `running`, and the daemon's description
/// (`GET /v1/daemon`) beside it when it does.
private struct DaemonStatusJSON: Encodable {
    var info: DaemonInfo?

    func encode(to encoder: any Encoder) throws {
        try info?.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(info != nil, forKey: .running)
    }

    private enum Key: String, CodingKey {
        case running
    }
}
