/// Where the dashboard's snapshots come from: the daemon's API, or the state store when the daemon is down.
///
/// The loop asks for a snapshot on every refresh; a source may cache what is slow to learn (device probes).
public protocol SnapshotSource: Sendable {
    /// A snapshot of now.
    ///
    /// - Parameters:
    ///   - logTailOf: the instance whose log end the view shows (detail and log views), or `nil`.
    ///   - logLines: how many of its last log lines to include.
    func snapshot(logTailOf: String?, logLines: Int) async throws -> DashboardSnapshot
}

/// What the dashboard's `r`, `u` and `d` keys do: restart, start and stop an instance.
///
/// The daemon carries them out; without it there is nothing that may start a server (the CLI never starts
/// llama-server itself), so the read-only implementation only explains.
public protocol InstanceActions: Sendable {
    /// Restarts an instance; returns one line for the person ("restarting chat").
    func restart(_ instance: String) async throws -> String
    /// Starts an instance (the user's `up`).
    func up(_ instance: String) async throws -> String
    /// Stops an instance (the user's `down`).
    func down(_ instance: String) async throws -> String
}

extension InstanceActions {
    /// Carries out a key's action; returns the line to show, the error's text when it failed, `nil` for `quit`.
    public func perform(_ action: DashboardAction) async -> String? {
        do {
            switch action {
            case .quit: return nil
            case .restart(let name): return try await restart(name)
            case .up(let name): return try await up(name)
            case .down(let name): return try await down(name)
            }
        } catch {
            return "\(error)"
        }
    }
}

/// The actions when the daemon is not running: each says so and how to start it.
public struct ReadOnlyInstanceActions: InstanceActions {
    public init() {}

    public func restart(_ instance: String) async throws -> String { throw DaemonNotRunning() }
    public func up(_ instance: String) async throws -> String { throw DaemonNotRunning() }
    public func down(_ instance: String) async throws -> String { throw DaemonNotRunning() }

    /// The error every read-only action ends in.
    public struct DaemonNotRunning: Error, CustomStringConvertible {
        public var description: String { "the daemon is not running; start it with 'llama-orch daemon start'" }
    }
}
