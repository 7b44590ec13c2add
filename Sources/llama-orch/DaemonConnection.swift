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

    /// `client` for a synchronous command: nothing of the concurrency runtime starts unless a daemon has to
    /// be started first (then the calling thread waits for that).
    static func blockingClient(_ root: ProjectRoot, timeout: Duration = .seconds(600)) throws -> ControlClient {
        let client = ControlClient(socketPath: root.daemonSocket, timeout: timeout, waitsInline: true)
        if client.socketAccepts() {
            warnIfReplaced(root)
            return client
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        // Detached: on the global executor whatever the caller's isolation, so the wait below can't block it.
        Task.detached {
            do {
                _ = try await Self.client(root, timeout: timeout)
                outcome.set(.success(()))
            } catch {
                outcome.set(.failure(error))
            }
            done.signal()
        }
        done.wait()
        try outcome.get()
        return client
    }

    /// Warns on standard error when the running daemon's executable was replaced since it started (an
    /// upgrade or a rebuild): it still runs the old code. Three system calls; nothing when it can't be told.
    private static func warnIfReplaced(_ root: ProjectRoot) {
        if let warning = DaemonExecutable.replacedWarning(root: root) { printWarning(warning) }
    }

    private final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var result: Result<Void, any Error> = .success(())
        func set(_ value: Result<Void, any Error>) { lock.withLock { result = value } }
        func get() throws { try lock.withLock { result }.get() }
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
