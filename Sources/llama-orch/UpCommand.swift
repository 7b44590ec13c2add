import ArgumentParser
import ControlAPI
import Dashboard
import Foundation
import Host
import OrchestratorCore

/// `llama-orch up`: place and start instances through the daemon.
struct UpCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Place and start instances (the daemon is started when none runs).",
        discussion: """
            Each instance is placed by the scheduler (exit 70 with the reason when it does not fit), then \
            started; instances on one device start one at a time, each after the one before it is healthy or \
            past its start period. The desired state becomes 'running'. An instance that already runs is \
            recreated (stopped, placed anew, started) when its config, its model file or the llama-server binary \
            changed since it started, and the output says what changed; an unchanged one is left alone. With \
            --wait, a progress line follows each instance until it is healthy; a failure prints the reason and the \
            end of its stderr.log.
            """)

    @OptionGroup var global: RootOptions

    @Argument(help: "Instances to start.")
    var names: [String] = []

    @Flag(name: .long, help: "Every instance under instances/.")
    var all = false

    @Flag(name: .long, help: "Leave running instances as they are, even when their config changed.")
    var noRecreate = false

    @Flag(name: .long, help: "Recreate running instances even when nothing changed.")
    var forceRecreate = false

    @Flag(name: .long, help: "With --all: stop supervised instances whose folder is gone from instances/.")
    var removeOrphans = false

    @Flag(name: .long, help: "Wait until every started instance is healthy.")
    var wait = false

    @Option(name: .long, help: "Seconds to wait with --wait.")
    var timeout: Double = 300

    func validate() throws {
        if names.isEmpty && !all { throw ValidationError("name at least one instance, or pass --all") }
        if noRecreate && forceRecreate {
            throw ValidationError("--no-recreate and --force-recreate exclude each other")
        }
        if removeOrphans && !all { throw ValidationError("--remove-orphans works with --all") }
        try validateTimeout(timeout)
    }

    func execute() async throws {
        try InstanceNameError.check(names)
        let root = try global.projectRoot()
        let client = try await DaemonConnection.client(root)
        let progress = ProgressLine()
        if wait { progress.show("placing \(all ? "all instances" : names.joined(separator: ", "))") }
        let recreate: InstancesRequest.Recreate = noRecreate ? .never : forceRecreate ? .always : .changed
        let response = try await client.up(
            InstancesRequest(names: names, all: all, recreate: recreate, removeOrphans: removeOrphans))
        progress.clear()
        var failure: Int32?
        var waiting: [String] = []
        for outcome in response.outcomes {
            switch outcome.result {
            case .failed:
                printError("\(outcome.name): \(outcome.message)")
                failure = failure ?? outcome.exitCode ?? 1
            case .started, .queued, .restarted:
                print("\(outcome.name): \(outcome.result.rawValue): \(outcome.message)")
                waiting.append(outcome.name)
            case .unchanged:
                print("\(outcome.name): \(outcome.message)")
                waiting.append(outcome.name)
            case .stopped:
                // An orphan `--remove-orphans` stopped: nothing to wait for.
                print("\(outcome.name): \(outcome.message)")
            }
        }
        if wait, let code = try await WaitForHealth.untilHealthy(waiting, client: client, root: root, timeout: timeout)
        {
            failure = failure ?? code
        }
        if let failure { throw ExitCode(failure) }
    }

}

/// `--wait` of `up` and `restart`.
enum WaitForHealth {
    /// Follows one instance until it is healthy (`nil`) or fails (the exit code), printing progress.
    static func untilHealthy(
        _ name: String, client: ControlClient, root: ProjectRoot, since start: Date, timeout: Double,
        progress: ProgressLine
    ) async throws -> Int32? {
        let deadline = start.addingTimeInterval(timeout)
        let stderrLog = root.logDirectory(name) + "/stderr.log"
        while true {
            let status = try await client.instance(named: name)
            let elapsed = ElapsedTime.text(Date().timeIntervalSince(start))
            switch status.state {
            case .healthy:
                progress.clear()
                print(
                    "\(name): healthy after \(elapsed) (pid \(status.pid.map { "\($0)" } ?? "?"), port \(status.port.map { "\($0)" } ?? "?"))"
                )
                return nil
            case .failed, .stopped, .invalid:
                progress.clear()
                printError("\(name): \(status.state.rawValue): \(status.reason ?? "no reason recorded")")
                let tail = LogFile.lastLinesText(of: stderrLog, count: 10)
                if !tail.isEmpty {
                    FileHandle.standardError.write(Data("last lines of \(stderrLog):\n\(tail)\n".utf8))
                }
                return 1
            default:
                let last = LogFile.lastLinesText(of: stderrLog, count: 1).trimmingCharacters(in: .whitespaces)
                let line = last.isEmpty ? "" : " · \(last.prefix(100))"
                progress.show("\(name): \(status.state.rawValue) \(elapsed)\(line)")
            }
            if Date() > deadline {
                progress.clear()
                printError("\(name): not healthy within \(Int(timeout)) s (still \(status.state.rawValue))")
                return 1
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Follows each of `names` in turn; the first failure's exit code, if any.
    static func untilHealthy(
        _ names: [String], client: ControlClient, root: ProjectRoot, timeout: Double
    ) async throws -> Int32? {
        let start = Date()
        let progress = ProgressLine()
        var failure: Int32?
        for name in names {
            if let code = try await untilHealthy(
                name, client: client, root: root, since: start, timeout: timeout, progress: progress)
            {
                failure = failure ?? code
            }
        }
        return failure
    }
}

/// One line on standard error rewritten in place on a terminal; elsewhere a line per change of phase.
final class ProgressLine {
    private let isTerminal = isatty(2) == 1
    private var shown = false
    private var lastPhase = ""

    func show(_ text: String) {
        if isTerminal {
            // Cut to the terminal's width: a line that wraps leaves its first rows behind at every redraw.
            FileHandle.standardError.write(
                Data("\r\u{1B}[K\(text.prefix(max(1, Terminal.size(of: 2).columns - 1)))".utf8))
            shown = true
        } else {
            // Without a terminal only the phase (the text before the elapsed time) is printed, once.
            let phase = text.split(separator: " ").prefix(2).joined(separator: " ")
            guard phase != lastPhase else { return }
            lastPhase = phase
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    func clear() {
        guard isTerminal, shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
    }
}
