import ArgumentParser
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
        version: LlamaOrchVersion.string,
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

    /// Runs the command, turning errors into a message on standard error and a documented exit code.
    ///
    /// Parsing (and `--help`, `--version`, a synchronous command) stays on the main thread; an async command
    /// runs on the global executor and exits from there. Returning to `main` would hop back to the main actor,
    /// which Dispatch serves on Linux from a thread it starts for that: tenths of a millisecond of every command.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(after: error)
        }
        if let asyncCommand = command as? any AsyncParsableCommand {
            await runToExit(asyncCommand)
        }
        do {
            try command.run()
        } catch {
            exit(after: error)
        }
        Foundation.exit(0)
    }

    nonisolated private static func runToExit(_ command: any AsyncParsableCommand) async -> Never {
        var command = command
        do {
            try await command.run()
        } catch {
            exit(after: error)
        }
        Foundation.exit(0)  // exit(3) flushes standard output
    }

    /// Ends the process for `error`: its message on standard error and its documented exit code.
    nonisolated private static func exit(after error: any Error) -> Never {
        switch error {
        case let error as any OrchestratorError:
            printError(error.description)
            Foundation.exit(error.exitCode.rawValue)
        case let exit as ExitCode:
            Foundation.exit(exit.rawValue)
        case let exit as ExitCodeError:
            Foundation.exit(exit.code)
        default:
            // Argument parsing errors, --help and --version: ArgumentParser prints them and picks the code.
            self.exit(withError: error)
        }
    }
}

enum LlamaOrchVersion {
    static let string = "0.1.0"
}

/// Writes one line to standard error, prefixed with `error:` unless it already names its kind.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("llama-orch: \(message)\n".utf8))
}

/// Writes one warning line to standard error.
func printWarning(_ message: String) {
    FileHandle.standardError.write(Data("llama-orch: warning: \(message)\n".utf8))
}
