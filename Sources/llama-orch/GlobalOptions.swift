import ArgumentParser
import ControlAPI
import Foundation
import OrchestratorCore

/// The option every command accepts: where the project is.
struct RootOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Project root (default: LLAMA_ORCH_ROOT, else the nearest parent folder with instances/).",
        completion: .directory
    )
    var root: String?

    /// The process environment.
    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The current working directory.
    var workingDirectory: String { FileManager.default.currentDirectoryPath }

    /// The project root, or an error saying how to make one.
    func projectRoot() throws -> ProjectRoot {
        try ProjectRoot.locate(explicit: root, environment: environment, workingDirectory: workingDirectory)
    }
}

/// The options of the commands that ask backend drivers themselves (`init`, `config validate`, `plan`,
/// `devices`, `drivers`, `dashboard`): the root, and which driver. Commands that go through the daemon take
/// the root only; the daemon places with the backend each config names.
struct GlobalOptions: ParsableArguments {
    @OptionGroup var location: RootOptions

    @Option(name: .long, help: "Backend driver: auto, or a name from 'llama-orch drivers'. Overrides gpu.backend.")
    var backend: String?

    @Option(name: .long, help: "Device inventory for the static driver (also LLAMA_ORCH_DEVICES).", completion: .file())
    var devicesFile: String?

    var root: String? { location.root }
    var environment: [String: String] { location.environment }
    var workingDirectory: String { location.workingDirectory }

    func projectRoot() throws -> ProjectRoot {
        try location.projectRoot()
    }
}

/// Refuses a `--timeout` that isn't a number of seconds above zero and at most a day (`inf` and `nan` parse as
/// numbers, and a duration can't hold them).
func validateTimeout(_ seconds: Double, option: String = "--timeout") throws {
    guard seconds.isFinite, seconds > 0, seconds <= 86_400 else {
        throw ValidationError("\(option) takes seconds above 0 and at most 86400 (a day); got \(seconds)")
    }
}

/// JSON as every `--json` output writes it: the control API's form (sorted keys, pretty-printed, one document) with
/// every key in snake_case, as the API's types spell theirs. The key strategy converts the property names of the
/// types that are only printed (plans, profiles, snapshots); keys that are data (GGUF metadata keys, instance names,
/// ggml type names) are dictionary keys, which it leaves as they are.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder.control
    encoder.keyEncodingStrategy = .convertToSnakeCase
    printJSON(bytes: Array(try encoder.encode(value)))
}

/// A JSON document already in `printJSON`'s form (a daemon's answer), printed as it came.
func printJSON(bytes: [UInt8]) {
    FileHandle.standardOutput.write(Data(bytes + [10]))
}
