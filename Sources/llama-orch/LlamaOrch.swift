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
        version: DaemonVersion.string,
        subcommands: [
            InitCommand.self,
            ConfigCommand.self,
            InspectCommand.self,
            DriversCommand.self,
            DevicesCommand.self,
            PlanCommand.self,
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
}

/// Writes one line to standard error, prefixed with `llama-orch:`.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("llama-orch: \(message)\n".utf8))
}

/// Writes one warning line to standard error.
func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("llama-orch: warning: \(message)\n".utf8))
}
