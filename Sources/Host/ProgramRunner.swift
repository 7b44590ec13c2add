import Foundation
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// Runs a short-lived program to its end and collects what it printed: `llama-server --version`, `--help` and
/// `--list-devices`, `systemctl`. No shell; a program still running at the timeout is killed.
public enum ProgramRunner {
    /// How a program ended and what it printed (standard output and standard error together).
    public struct Output: Sendable, Equatable {
        /// The exit status; for a program killed by a signal, 128 + the signal, as a shell reports it.
        public var status: Int32
        public var output: String

        public init(status: Int32, output: String) {
            self.status = status
            self.output = output
        }
    }

    /// The most a program may print before it is an error (`llama-server --help` prints about 30 KiB).
    public static let outputLimit = 4 << 20

    /// Runs `executable` (a path) with `arguments` in this process's environment and waits for it.
    ///
    /// - Throws: `ProgramError.cannotRun` when it can't be started or printed more than `outputLimit`,
    ///   `.timedOut` when it ran past `timeout` (it was killed).
    public static func run(
        _ executable: String, _ arguments: [String], timeout: Duration
    ) async throws(ProgramError) -> Output {
        do {
            return try await withThrowingTaskGroup(of: Output?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(
                        .path(FilePath(executable)), arguments: Arguments(arguments), input: .none,
                        output: .string(limit: outputLimit), error: .combinedWithOutput)
                    let status: Int32 =
                        switch result.terminationStatus {
                        case .exited(let code): code
                        case .signaled(let signal): 128 + signal
                        }
                    return Output(status: status, output: result.standardOutput ?? "")
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                // The first to finish decides; cancelling the other kills a program still running.
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw ProgramError.timedOut(executable, arguments: arguments, after: timeout) }
                return first
            }
        } catch let error as ProgramError {
            throw error
        } catch {
            throw .cannotRun(executable, reason: "\(error)")
        }
    }

    /// The executable `program` names: itself when it holds a `/`, else the first match in `PATH`.
    public static func locate(_ program: String, path: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = folder + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A program that could not be run to its end.
public enum ProgramError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotRun(String, reason: String)
    case timedOut(String, arguments: [String], after: Duration)

    public var description: String {
        switch self {
        case .cannotRun(let program, let reason): "cannot run \(program): \(reason)"
        case .timedOut(let program, let arguments, let limit):
            "\(([program] + arguments).joined(separator: " ")) did not finish within \(limit); killed it"
        }
    }
}
