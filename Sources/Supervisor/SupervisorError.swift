import Host
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#endif

/// A server could not be started, watched or stopped; the message says what to do.
public enum SupervisorError: OrchestratorError, Equatable {
    /// Another process listens on the instance's port.
    case portInUse(port: Int, holder: PortHolder?)
    /// The server binary could not be started (`errno` from `posix_spawn`).
    case spawnFailed(executable: String, errno: Int32)
    /// A log file could not be opened or created.
    case logFile(path: String, reason: String)
    /// The instance already has a supervised server.
    case alreadyRunning(instance: String)
    /// The launch spec is unusable (empty argv, bad port).
    case invalidLaunch(reason: String)
    /// The state store refused a write.
    case stateStore(StateStoreFailure)
    /// A recorded run's process is no longer its server (it ended, or its pid now belongs to another process).
    case notOurs(pid: Int32, instance: String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .spawnFailed(_, let code) where code == ENOENT: .binaryMissing
        case .stateStore: .stateStore
        default: .failure
        }
    }

    public var description: String {
        switch self {
        case .portInUse(let port, let holder):
            let who = holder.map { " by \($0)" } ?? " by a process this user cannot see"
            if holder?.instance != nil {
                // An orphan of an earlier run (a daemon killed before it recorded the server): ours to stop.
                return "port \(port) is already in use\(who); 'llama-orch down --all' stops the marked processes "
                    + "of this root that no run records, then start the instance again"
            }
            return "port \(port) is already in use\(who); stop it or give the instance another server.port"
        case .spawnFailed(let executable, let code):
            return "cannot start \(executable): \(Self.errorText(code)); check binary.path or LLAMA_SERVER"
        case .logFile(let path, let reason):
            return "cannot open log file \(path): \(reason); check the logs folder's permissions and free space"
        case .alreadyRunning(let instance):
            return "instance \(instance) is already supervised; stop it first or use restart"
        case .invalidLaunch(let reason):
            return "cannot launch: \(reason)"
        case .stateStore(let failure):
            return failure.description
        case .notOurs(let pid, let instance):
            return "pid \(pid) recorded for instance \(instance) is not its server any more (it ended, or the pid "
                + "was reused); it was left alone: start the instance again"
        }
    }

    static func errorText(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES: "permission denied"
        case ENOEXEC: "not an executable this machine can run"
        default: String(cString: strerror(code))
        }
    }
}

/// A state store error carried by a `SupervisorError`, as text (the store's own error type lives in the
/// `StateStore` module).
public struct StateStoreFailure: Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
