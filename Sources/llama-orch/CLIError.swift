import OrchestratorCore

/// An error raised by a command itself (not by a module), with its exit code.
struct CLIError: OrchestratorError {
    var exitCode: OrchestratorExitCode
    var description: String

    init(_ exitCode: OrchestratorExitCode, _ description: String) {
        self.exitCode = exitCode
        self.description = description
    }
}
