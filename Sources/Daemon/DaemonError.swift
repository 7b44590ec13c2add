import OrchestratorCore

/// The version the daemon reports.
public enum DaemonVersion {
    public static let string = "0.1.0"
}

/// A request the daemon refuses.
public enum DaemonError: OrchestratorError, Equatable {
    case noSuchInstance(String)
    case noNames
    /// Another daemon holds the root's lock: its pid, when the pid file says.
    case alreadyRunning(root: String, pid: Int32?)
    /// The daemon could not set itself up: the socket, the lock, the state folder.
    case cannotStart(String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .noSuchInstance: .notFound
        case .noNames: .usage
        case .alreadyRunning, .cannotStart: .daemonUnreachable
        }
    }

    public var description: String {
        switch self {
        case .noSuchInstance(let name):
            "no instance '\(name)' (no instances/\(name)/config.json); create it with 'llama-orch init \(name) --model PATH'"
        case .noNames: "name at least one instance, or pass --all"
        case .alreadyRunning(let root, let pid):
            "a daemon already runs for \(root)\(pid.map { " (pid \($0))" } ?? ""); stop it with 'llama-orch daemon stop'"
        case .cannotStart(let reason): "cannot start the daemon: \(reason)"
        }
    }
}
