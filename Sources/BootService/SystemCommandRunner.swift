import Foundation
import Host

/// How a service manager command exited (127 when it could not be started) and what it printed.
public typealias SystemCommandResult = ProgramRunner.Output

/// Runs service manager commands (`systemctl`, `launchctl`): injected, so tests record the commands instead of
/// touching the machine's services.
public protocol SystemCommandRunning: Sendable {
    /// Runs `argv` (no shell; `argv[0]` is looked up in PATH) and waits for it.
    func run(_ argv: [String]) async -> SystemCommandResult
    /// Whether `program` can be run; by default, whether it is found in PATH.
    func isAvailable(_ program: String) -> Bool
}

extension SystemCommandRunning {
    /// Whether `program` can be found in PATH.
    public func isAvailable(_ program: String) -> Bool {
        ProcessCommandRunner.locate(program) != nil
    }
}

/// Runs commands as child processes (`ProgramRunner`), each within `timeout`.
public struct ProcessCommandRunner: SystemCommandRunning {
    /// How long one command may take: `systemctl enable --now` waits for the daemon to start.
    public var timeout: Duration

    public init(timeout: Duration = .seconds(90)) {
        self.timeout = timeout
    }

    public func run(_ argv: [String]) async -> SystemCommandResult {
        guard let program = argv.first, let executable = Self.locate(program) else {
            return SystemCommandResult(status: 127, output: "\(argv.first ?? "(nothing)"): not found in PATH")
        }
        do {
            return try await ProgramRunner.run(executable, Array(argv.dropFirst()), timeout: timeout)
        } catch {
            return SystemCommandResult(status: 127, output: error.description)
        }
    }

    /// The executable `program` names: itself when it holds a `/`, else the first match in PATH.
    public static func locate(_ program: String) -> String? {
        ProgramRunner.locate(program, path: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    }
}
