/// One problem found in a config file: where (JSON path and line), what was expected, what was found.
public struct ConfigIssue: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable {
        case error, warning
    }

    public var severity: Severity
    /// The JSON path (`server.port`, `args[2]`), or empty for the whole file.
    public var path: String
    public var message: String
    public var line: Int?
    public var column: Int?

    public init(_ severity: Severity, path: String, message: String, at position: JSONPosition? = nil) {
        self.severity = severity
        self.path = path
        self.message = message
        self.line = position?.line
        self.column = position?.column
    }

    public var description: String {
        var location = path.isEmpty ? "(file)" : path
        if let line, let column { location += " (line \(line), column \(column))" }
        return "\(location): \(message)"
    }
}

/// A config file that did not validate: every error of the file at once.
public struct ConfigError: OrchestratorError, Equatable {
    /// The config file, as given (relative to the working directory or absolute).
    public var file: String
    public var issues: [ConfigIssue]

    public init(file: String, issues: [ConfigIssue]) {
        self.file = file
        self.issues = issues
    }

    public var exitCode: OrchestratorExitCode { .configInvalid }

    public var description: String {
        let errors = issues.filter { $0.severity == .error }
        let count = errors.count == 1 ? "1 error" : "\(errors.count) errors"
        return "\(file): \(count)\n" + errors.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// The outcome of validating one config file.
public struct ConfigReport: Sendable, Codable {
    public var file: String
    /// The instance name: from the folder.
    public var name: String
    /// The config with defaults filled in, when there are no errors.
    public var config: InstanceConfig?
    public var issues: [ConfigIssue]

    public var errors: [ConfigIssue] { issues.filter { $0.severity == .error } }
    public var warnings: [ConfigIssue] { issues.filter { $0.severity == .warning } }
    public var isValid: Bool { errors.isEmpty }

    /// The config, or the errors as one `ConfigError`.
    public func get() throws(ConfigError) -> InstanceConfig {
        guard let config, isValid else { throw ConfigError(file: file, issues: issues) }
        return config
    }
}
