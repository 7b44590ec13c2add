import ArgumentParser
import ControlAPI
import Foundation
import OrchestratorCore

/// Options every command accepts: where the project is and which backend driver to ask.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Project root (default: LLAMA_ORCH_ROOT, else the nearest parent folder with instances/).",
        completion: .directory
    )
    var root: String?

    @Option(name: .long, help: "Backend driver: auto, or a name from 'llama-orch drivers'. Overrides gpu.backend.")
    var backend: String?

    @Option(name: .long, help: "Device inventory for the static driver (also LLAMA_ORCH_DEVICES).", completion: .file())
    var devicesFile: String?

    /// The process environment.
    var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The current working directory.
    var workingDirectory: String { FileManager.default.currentDirectoryPath }

    /// The project root, or an error saying how to make one.
    func projectRoot() throws -> ProjectRoot {
        try ProjectRoot.locate(explicit: root, environment: environment, workingDirectory: workingDirectory)
    }
}

/// JSON as every `--json` output writes it (`JSONEncoder.control`, the daemon's too): sorted keys,
/// pretty-printed, one document.
func printJSON(_ value: some Encodable) throws {
    printJSON(bytes: Array(try JSONEncoder.control.encode(value)))
}

/// A JSON document already in `JSONEncoder.control`'s form (a daemon's answer), as `printJSON` prints it.
func printJSON(bytes: [UInt8]) {
    FileHandle.standardOutput.write(Data(bytes + [10]))
}
