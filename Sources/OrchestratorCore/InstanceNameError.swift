import Foundation

/// A name that can't be an instance's (`ConfigSpec.namePattern`): refused with the same message by every command
/// and by the control API, before any file or route is looked at, so `../x` is never taken for a path.
public struct InstanceNameError: OrchestratorError, Equatable {
    /// The name as given.
    public var name: String

    public init(name: String) {
        self.name = name
    }

    public var exitCode: OrchestratorExitCode { .usage }

    public var description: String {
        "invalid instance name '\(name)': use 1 to 63 lowercase letters, digits, '.', '_' or '-', starting with a "
            + "letter or digit (the name of its folder under instances/, not a path)"
    }

    /// Throws for the first of `names` that is not a valid instance name.
    public static func check(_ names: some Sequence<String>) throws(InstanceNameError) {
        for name in names where name.range(of: ConfigSpec.namePattern, options: .regularExpression) == nil {
            throw InstanceNameError(name: name)
        }
    }
}
