import Foundation
import OrchestratorCore

/// Why a service unit could not be rendered, installed or removed, and what to do about it.
public enum ServiceError: OrchestratorError, Equatable {
    /// A value can't be written into a unit safely (a newline in a path, a relative path, a bad name).
    case invalidValue(field: String, value: String, expected: String)
    /// A unit file exists with other contents; `install` overwrites it only with `--force`.
    case unitExists(path: String)
    /// The unit file could not be written or removed.
    case fileSystem(path: String, reason: String)
    /// The service manager refused a command that installing or removing needs.
    case managerFailed(command: [String], status: Int32, output: String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .invalidValue: .usage
        case .unitExists: .alreadyExists
        case .fileSystem, .managerFailed: .failure
        }
    }

    public var description: String {
        switch self {
        case .invalidValue(let field, let value, let expected):
            "cannot write \(field) '\(value)' into a service unit: expected \(expected)"
        case .unitExists(let path):
            "\(path) already exists with other contents; pass --force to replace it"
        case .fileSystem(let path, let reason):
            "cannot write or remove \(path): \(reason)"
        case .managerFailed(let command, let status, let output):
            "'\(command.joined(separator: " "))' failed (exit \(status))"
                + (output.isEmpty ? "" : ": \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
