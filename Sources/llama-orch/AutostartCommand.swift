import ArgumentParser
import Drivers
import Foundation
import OrchestratorCore

struct AutostartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autostart",
        abstract: "Mark instances to start with the daemon at boot, or list the marked ones.",
        discussion: """
            Sets "autostart" in instances/<name>/config.json in place: the value is replaced where it is, or \
            "autostart": true is added first; the rest of the file is left as written. The edited config is \
            validated before it is written (atomically); an invalid config is refused with its errors.
            """,
        subcommands: [AddCommand.self, RemoveCommand.self, ListCommand.self]
    )

    struct AddCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Set \"autostart\": true for instances.")

        @OptionGroup var global: RootOptions

        @Argument(help: "Instances to start at boot.")
        var names: [String]

        func execute() async throws {
            try InstanceNameError.check(names)
            try setAutostart(true, names: names, global: global)
        }
    }

    struct RemoveCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Set \"autostart\": false for instances (where the key is present).")

        @OptionGroup var global: RootOptions

        @Argument(help: "Instances not to start at boot.")
        var names: [String]

        func execute() async throws {
            try InstanceNameError.check(names)
            try setAutostart(false, names: names, global: global)
        }
    }

    struct ListCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the instances marked to start at boot.",
            discussion: "A marked instance whose config is invalid is listed with a note: the daemon won't start it."
        )

        @OptionGroup var global: RootOptions

        @Flag(name: .long, help: "Print the list as JSON.")
        var json = false

        func execute() async throws {
            let root = try global.projectRoot()
            let validator = ConfigValidator(knownNames: KnownNames(backends: DriverCatalog.registry().names))
            var entries: [AutostartEntry] = []
            for name in ConfigValidator.instanceNames(in: root) {
                guard let data = FileManager.default.contents(atPath: root.configFile(name)),
                    case .bool(true)? = try? ConfigEditor.topLevelValue(
                        "autostart", in: String(decoding: data, as: UTF8.self))?.value
                else { continue }
                let valid = validator.validate(instance: name, in: root).isValid
                entries.append(AutostartEntry(name: name, file: "instances/\(name)/config.json", valid: valid))
            }
            if json {
                try printJSON(entries)
                return
            }
            for entry in entries {
                print(
                    entry.valid
                        ? entry.name
                        : "\(entry.name) (invalid config: the daemon won't start it; see 'llama-orch config validate \(entry.name)')"
                )
            }
        }
    }
}

private struct AutostartEntry: Encodable {
    var name: String
    var file: String
    var valid: Bool
}

/// Edits each named config in place, validating the result before writing; stops at the first refusal.
private func setAutostart(_ enabled: Bool, names: [String], global: RootOptions) throws {
    let root = try global.projectRoot()
    let known = ConfigValidator.instanceNames(in: root)
    if let missing = names.first(where: { !known.contains($0) }) {
        throw CLIError(
            .notFound,
            "no instance '\(missing)' in \(root.instancesDirectory); known: \(known.joined(separator: ", "))")
    }
    let validator = ConfigValidator(knownNames: KnownNames(backends: DriverCatalog.registry().names))
    for name in names {
        let path = root.configFile(name)
        let shown = "instances/\(name)/config.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(.notFound, "cannot read \(shown) in \(root.path)")
        }
        // Text that isn't UTF-8 is refused as the validator refuses it, rather than repaired and rewritten.
        guard let text = String(validating: data, as: UTF8.self) else {
            let report = validator.validate(
                bytes: Array(data), file: shown, folder: root.instanceDirectory(name), expectedName: name)
            throw ConfigError(file: shown + " (not changed)", issues: report.issues)
        }
        let edited: String
        do {
            edited = try ConfigEditor.settingAutostart(enabled, in: text)
        } catch {
            throw ConfigError(file: shown + " (not changed)", issues: [error.issue])
        }
        let report = validator.validate(
            bytes: Array(edited.utf8), file: shown, folder: root.instanceDirectory(name), expectedName: name)
        guard report.isValid else { throw ConfigError(file: shown + " (not changed)", issues: report.issues) }
        if edited == text {
            print("\(name): autostart already \(enabled ? "on" : "off")")
            continue
        }
        try writeAtomically(edited, to: path)
        print("\(name): autostart \(enabled ? "on" : "off") (\(shown))")
    }
}
