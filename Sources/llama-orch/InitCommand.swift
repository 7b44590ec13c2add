import ArgumentParser
import Drivers
import Foundation
import Host
import OrchestratorCore

struct InitCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write instances/<name>/config.json for a model.",
        discussion: """
            The model path is stored relative to the config file's folder. Without --port the lowest port \
            from 8001 up that no instance uses and nothing on this machine listens on is chosen. An existing \
            config is never overwritten without --force. A --root or LLAMA_ORCH_ROOT folder without \
            instances/ becomes a project; without either, the nearest parent folder with instances/ is the \
            project, else the current folder becomes one.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Instance name: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit.")
    var name: String

    @Option(name: .long, help: "GGUF model file.", completion: .file(extensions: ["gguf"]))
    var model: String

    @Option(name: .long, help: "Port for llama-server (default: the lowest free one from 8001).")
    var port: Int?

    @Option(name: .long, help: "Address llama-server listens on.")
    var host: String = "127.0.0.1"

    @Option(name: .long, help: "Context size (-c).")
    var context: Int = 4096

    @Option(name: .long, help: "Slots for concurrent requests (-np).")
    var parallel: Int = 1

    @Flag(name: .long, help: "Overwrite an existing config.")
    var force = false

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func execute() async throws {
        try InstanceNameError.check([name])
        let root: ProjectRoot
        do {
            root = try global.projectRoot()
        } catch ProjectRootError.notFound {
            root = ProjectRoot(path: global.workingDirectory)
        } catch ProjectRootError.notAProject(let path, _) {
            root = ProjectRoot(path: path)
        }
        let drivers = DriverCatalog.registry()
        let backend = global.backend ?? "auto"
        if backend != "auto" { _ = try drivers.lookup(backend) }
        let configPath = root.configFile(name)
        let shownPath = "instances/\(name)/config.json"
        if FileManager.default.fileExists(atPath: configPath) && !force {
            throw CLIError(.alreadyExists, "\(shownPath) already exists in \(root.path); pass --force to overwrite it")
        }
        let modelPath = resolve(model, against: global.workingDirectory)
        if FileKind(path: modelPath) == .missing {
            throw CLIError(.notFound, "--model \(model): no file at \(modelPath)")
        }
        let instanceFolder = root.instanceDirectory(name)
        let others = ConfigValidator.instanceNames(in: root).filter { $0 != name }
        let usedPorts = Dictionary(
            others.compactMap { other in declaredPort(root.configFile(other)).map { ($0, other) } },
            uniquingKeysWith: { first, _ in first })
        let chosenPort: Int
        if let port {
            // The validator's range, checked before the port is probed (a number past 65535 can't be).
            guard (1024...65535).contains(port) else {
                throw CLIError(.configInvalid, "--port \(port): expected an integer from 1024 to 65535")
            }
            if let holder = usedPorts[port] {
                throw CLIError(
                    .configInvalid, "port \(port) is already used by instance '\(holder)'; pick another or omit --port")
            }
            if !isFree(port) { printWarning("port \(port) is in use on this machine right now") }
            chosenPort = port
        } else {
            guard let free = (8001...65535).first(where: { usedPorts[$0] == nil && isFree($0) }) else {
                throw CLIError(.failure, "no free port from 8001 up; pass --port")
            }
            chosenPort = free
        }
        let config = NewInstanceConfig(
            name: name, modelPath: relativePath(modelPath, from: instanceFolder), contextSize: context,
            port: chosenPort, host: host, parallel: parallel, backend: backend)
        let validator = ConfigValidator(knownNames: KnownNames(backends: drivers.names))
        let report = validator.validate(
            bytes: Array(config.jsonText.utf8), file: shownPath, folder: instanceFolder, expectedName: name)
        guard report.isValid else {
            // Nothing is written: the same errors `config validate` would give, for the values passed here.
            throw ConfigError(file: shownPath + " (not written)", issues: report.issues)
        }
        try FileManager.default.createDirectory(atPath: instanceFolder, withIntermediateDirectories: true)
        try writeAtomically(config.jsonText, to: configPath)
        if json {
            try printJSON(InitResult(file: configPath, name: name, port: chosenPort, model: modelPath))
        } else {
            print("wrote \(shownPath) in \(root.path) (port \(chosenPort), model \(config.modelPath))")
        }
    }

    /// Whether nothing listens on `port`, on loopback or any address (the check `up` makes before a start).
    private func isFree(_ port: Int) -> Bool {
        PortInspector.canBind(host: "127.0.0.1", port: port) && PortInspector.canBind(host: "0.0.0.0", port: port)
    }

    /// The `server.port` a config declares, read leniently so that an invalid config still reserves its port.
    private func declaredPort(_ file: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: file),
            let node = try? JSONParser.parse([UInt8](data)),
            case .object(let members) = node.value,
            case .object(let server)? = members.first(where: { $0.key == "server" })?.node.value,
            case .number(let literal)? = server.first(where: { $0.key == "port" })?.node.value
        else { return nil }
        return Int(literal)
    }
}

private struct InitResult: Encodable {
    var file: String
    var name: String
    var port: Int
    var model: String
}
