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
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as any OrchestratorError {
            printError(error.description)
            Foundation.exit(error.exitCode.rawValue)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch let exit as ExitCodeError {
            Foundation.exit(exit.code)
        } catch {
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
