import ArgumentParser
import Daemon
import Foundation
import OrchestratorCore

/// The `llama-orch` command: one subcommand per file in this folder, parsing and printing only.
@main
struct LlamaOrch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llama-orch",
        abstract: "Run and supervise llama.cpp llama-server instances on one machine.",
        discussion: """
            Instances are declared in instances/<name>/config.json under the project root (--root, \
            LLAMA_ORCH_ROOT, or the nearest parent folder with an instances/ folder).

            Exit codes: \(OrchestratorExitCode.allCases.map { "\($0.rawValue) \($0.meaning)" }.joined(separator: "; ")).
            """,
        version: versionText,
        subcommands: [
            InitCommand.self,
            ConfigCommand.self,
            InspectCommand.self,
            DriversCommand.self,
            DevicesCommand.self,
            PlanCommand.self,
            ExportCommand.self,
            DashboardCommand.self,
            ServiceCommand.self,
            AutostartCommand.self,
            DaemonCommand.self,
            UpCommand.self,
            DownCommand.self,
            RestartCommand.self,
            PsCommand.self,
            HealthCommand.self,
            LogsCommand.self,
            DescribeCommand.self,
        ]
    )

    /// Parses on the main thread and runs the command; an async command exits from the thread it ran on.
    ///
    /// This serves goal (d), `ps` in 15 ms (README, Supervisor benchmark): ArgumentParser's own `main` returns to
    /// the main actor after the command, which Dispatch serves on Linux from a thread it starts for that.
    static func main() async {
        do {
            let command = try parseAsRoot()
            guard let asyncCommand = command as? any AsyncParsableCommand else {
                var command = command
                try command.run()
                exit()
            }
            await runToExit(asyncCommand)
        } catch {
            exit(withError: error)
        }
    }

    nonisolated private static func runToExit(_ command: any AsyncParsableCommand) async -> Never {
        var command = command
        do {
            try await command.run()
            exit()
        } catch {
            exit(withError: error)
        }
    }
}

/// Writes one line to standard error, prefixed with `llama-orch:`.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("llama-orch: \(message)\n".utf8))
}

/// Writes one warning line to standard error.
func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("llama-orch: warning: \(message)\n".utf8))
}
