/// The exit codes of every `llama-orch` command, documented in the README's table.
///
/// Scripts branch on these, so a code never changes meaning once released.
public enum OrchestratorExitCode: Int32, Sendable, CaseIterable {
    /// The command did what was asked.
    case success = 0
    /// Something failed that no other code describes.
    case failure = 1
    /// The command line was wrong (unknown flag, missing argument).
    case usage = 64
    /// An instance config is invalid.
    case configInvalid = 65
    /// A named instance, model or file does not exist.
    case notFound = 66
    /// A model file is not a readable GGUF file.
    case modelInvalid = 67
    /// The requested backend driver is unknown or has no usable device.
    case driverUnavailable = 68
    /// The daemon could not be reached or started.
    case daemonUnreachable = 69
    /// An instance does not fit on the devices.
    case placementImpossible = 70
    /// No llama-server binary was found.
    case binaryMissing = 71
    /// A file would be overwritten; the command needs `--force`.
    case alreadyExists = 72
    /// The state store could not be opened or written.
    case stateStore = 73

    /// One line for the README's table and `--help`.
    public var meaning: String {
        switch self {
        case .success: "success"
        case .failure: "failure not covered below"
        case .usage: "usage error: unknown flag, missing or bad argument"
        case .configInvalid: "an instance config is invalid"
        case .notFound: "a named instance, model or file does not exist"
        case .modelInvalid: "a model file is not a readable GGUF file"
        case .driverUnavailable: "the backend driver is unknown or unavailable"
        case .daemonUnreachable: "the daemon could not be reached or started"
        case .placementImpossible: "an instance does not fit on the devices"
        case .binaryMissing: "no llama-server binary was found"
        case .alreadyExists: "a file would be overwritten (pass --force)"
        case .stateStore: "the state store could not be opened or written"
        }
    }
}

/// An error a user can act on: it says what happened and what to do, and maps to an exit code.
public protocol OrchestratorError: Error, CustomStringConvertible, Sendable {
    /// The process exit code a command ends with when this error stops it.
    var exitCode: OrchestratorExitCode { get }
}
