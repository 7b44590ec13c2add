import Foundation

/// What a service unit says, whatever the service manager: the daemon's command line and where and as whom it
/// runs.
///
/// Every target renders the same definition, so the units agree with each other; golden files pin each
/// rendering.
public struct ServiceDefinition: Sendable, Equatable {
    /// The unit's name: `llama-orch.service`, launchd label `llama-orch`, Windows service `llama-orch`.
    public var name: String
    /// Absolute path of the `llama-orch` binary the unit runs.
    public var binary: String
    /// Absolute path of the project root the daemon serves.
    public var root: String
    /// Variables the daemon needs (PATH to find llama-server, LLAMA_SERVER, ...), written sorted by name.
    public var environment: [String: String]
    /// The account a system unit runs as (`User=`, `UserName`, the task's principal); `nil` for the service
    /// manager's default (root, LocalSystem). User units always run as their user and ignore it, except on
    /// Windows, where it names the account.
    public var user: String?
    /// Seconds the service manager waits for the daemon to stop before killing it: longer than the grace the
    /// daemon gives each instance, so a stop never cuts an instance's shutdown short.
    public var stopTimeoutSeconds: Int
    /// Seconds before the service manager restarts a daemon that failed.
    public var restartDelaySeconds: Int

    /// The default unit name.
    public static let defaultName = "llama-orch"
    /// The grace the daemon is assumed to give an instance between SIGTERM and SIGKILL.
    public static let instanceGracePeriodSeconds = 30
    /// The default stop timeout: the instances' grace period and as much again for the daemon itself.
    public static let defaultStopTimeoutSeconds = 2 * instanceGracePeriodSeconds
    /// The default delay before a failed daemon is restarted.
    public static let defaultRestartDelaySeconds = 5

    public init(
        name: String = ServiceDefinition.defaultName, binary: String, root: String, environment: [String: String] = [:],
        user: String? = nil, stopTimeoutSeconds: Int = ServiceDefinition.defaultStopTimeoutSeconds,
        restartDelaySeconds: Int = ServiceDefinition.defaultRestartDelaySeconds
    ) {
        self.name = name
        self.binary = binary
        self.root = root
        self.environment = environment
        self.user = user
        self.stopTimeoutSeconds = stopTimeoutSeconds
        self.restartDelaySeconds = restartDelaySeconds
    }

    /// The daemon's arguments after the binary: `daemon start --foreground --root <root>`.
    public var daemonArguments: [String] { ["daemon", "start", "--foreground", "--root", root] }

    /// The environment as `(name, value)` pairs sorted by name, as every rendering writes it.
    public var sortedEnvironment: [(name: String, value: String)] {
        environment.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
    }

    /// Checks what every target needs; `posixPaths` also requires absolute POSIX paths (systemd, launchd).
    func validate(posixPaths: Bool) throws(ServiceError) {
        // No "--": the name appears in an XML comment of the Task Scheduler text, where "--" is not allowed.
        guard name.range(of: #"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"#, options: .regularExpression) != nil,
            !name.contains("--")
        else {
            throw .invalidValue(
                field: "name", value: name,
                expected: "1 to 63 letters, digits, '.', '_' or '-' (not two in a row), starting with a letter or digit"
            )
        }
        for (field, value) in [("binary", binary), ("root", root)] {
            if value.isEmpty { throw .invalidValue(field: field, value: value, expected: "a path") }
            if posixPaths && !value.hasPrefix("/") {
                throw .invalidValue(field: field, value: value, expected: "an absolute path")
            }
            try Self.checkPrintable(field: field, value)
        }
        if !posixPaths {
            for (field, value) in [("binary", binary), ("root", root)] where value.contains("\"") {
                throw .invalidValue(field: field, value: value, expected: "a Windows path (no '\"')")
            }
        }
        for (key, value) in environment {
            guard key.range(of: #"^[A-Za-z_][A-Za-z0-9_]*$"#, options: .regularExpression) != nil else {
                throw .invalidValue(
                    field: "environment", value: key, expected: "a variable name (letters, digits and '_')")
            }
            try Self.checkPrintable(field: "environment \(key)", value)
        }
        if let user {
            guard !user.isEmpty, !user.contains(where: { $0.isWhitespace || $0 == "\"" }) else {
                throw .invalidValue(field: "user", value: user, expected: "an account name without spaces or quotes")
            }
            try Self.checkPrintable(field: "user", user)
        }
        guard stopTimeoutSeconds > 0, restartDelaySeconds >= 0 else {
            throw .invalidValue(
                field: "timeouts", value: "\(stopTimeoutSeconds), \(restartDelaySeconds)",
                expected: "a stop timeout above 0 and a restart delay of 0 or more seconds")
        }
    }

    private static func checkPrintable(field: String, _ value: String) throws(ServiceError) {
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw .invalidValue(field: field, value: value, expected: "text without control characters or newlines")
        }
    }
}
