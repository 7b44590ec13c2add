import ArgumentParser
import ControlAPI
import Daemon
import Foundation
import OrchestratorCore

/// The control API client of a command that needs the daemon: starts one in the background when none
/// answers, and says so on standard error.
enum DaemonConnection {
    static func client(_ root: ProjectRoot, timeout: Duration = .seconds(600)) async throws -> ControlClient {
        // A command asks and prints: its request may wait on its own thread (no hop to another and back).
        let client = ControlClient(socketPath: root.daemonSocket, timeout: timeout, waitsInline: true)
        // A daemon accepts on its socket: the command's own request follows at once (one exchange, not two).
        if client.socketAccepts() {
            warnIfReplaced(root)
            return client
        }
        let (info, started) = try await DaemonLauncher.ensureRunning(root: root)
        if started {
            FileHandle.standardError.write(Data("started the daemon (pid \(info.pid))\n".utf8))
        }
        return client
    }

    /// Warns on standard error when the running daemon's executable was replaced since it started (an
    /// upgrade or a rebuild): it still runs the old code. Three system calls; nothing when it can't be told.
    private static func warnIfReplaced(_ root: ProjectRoot) {
        if let warning = DaemonExecutable.replacedWarning(root: root) { printWarning(warning) }
    }

    /// Prints each outcome (failures on standard error) and ends with the first failure's exit code.
    static func report(_ response: InstancesResponse) throws {
        var failure: Int32?
        for outcome in response.outcomes {
            if outcome.result == .failed {
                printError("\(outcome.name): \(outcome.message)")
                failure = failure ?? outcome.exitCode ?? 1
            } else {
                print("\(outcome.name): \(outcome.result.rawValue): \(outcome.message)")
            }
        }
        if let failure { throw ExitCode(failure) }
    }
}
