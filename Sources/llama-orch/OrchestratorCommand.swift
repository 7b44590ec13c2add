import ArgumentParser
import OrchestratorCore

/// A `llama-orch` command that ends on an `OrchestratorError` as the README documents: `execute()` does the
/// work, and `run()` prints the error's message on standard error and exits with its code.
///
/// Every other error goes on to ArgumentParser's standard entry point as it came: usage errors, `--help`,
/// `--version`, and `ExitCode` for a command that printed its own message.
protocol OrchestratorCommand: AsyncParsableCommand {
    /// The command's work.
    func execute() async throws
}

extension OrchestratorCommand {
    func run() async throws {
        do { try await execute() } catch { throw reported(error) }
    }
}

/// `error` as ArgumentParser should end the process for it: an `OrchestratorError` is printed here
/// (`llama-orch: message`) and becomes the `ExitCode` of its documented code; any other error is returned as
/// it is.
private func reported(_ error: any Error) -> any Error {
    guard let error = error as? any OrchestratorError else { return error }
    printError(error.description)
    return ExitCode(error.exitCode.rawValue)
}
