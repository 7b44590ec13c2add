import ArgumentParser
import Drivers
import Foundation
import OrchestratorCore
import Scheduler

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Validate instance configs or print their JSON Schema.",
        subcommands: [ValidateCommand.self, SchemaCommand.self]
    )

    struct ValidateCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check instance configs; all instances when none is named.",
            discussion: "Exits 0 when every config is valid, 65 when any is invalid, 66 when a named one is missing."
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Instances to check (default: all under instances/).")
        var names: [String] = []

        @Flag(name: .long, help: "Print the reports as JSON.")
        var json = false

        func execute() async throws {
            try InstanceNameError.check(names)
            let root = try global.projectRoot()
            let validator = ConfigValidator(knownNames: KnownNames(backends: DriverCatalog.registry().names))
            var reports = validator.validateAll(in: root)
            if !names.isEmpty {
                let known = Set(reports.map(\.name))
                if let missing = names.first(where: { !known.contains($0) }) {
                    throw CLIError(
                        .notFound,
                        "no instance '\(missing)' in \(root.instancesDirectory); known: \(reports.map(\.name).joined(separator: ", "))"
                    )
                }
                reports = reports.filter { names.contains($0.name) }
            }
            reports = await Self.warnAboutMissingDevices(reports, global: global)
            if json {
                try printJSON(reports.map(ValidationOutput.init))
            } else if reports.isEmpty {
                printWarning(
                    "no instances in \(root.instancesDirectory); create one with 'llama-orch init NAME --model PATH'")
            } else {
                for report in reports { print(Self.render(report)) }
            }
            if reports.contains(where: { !$0.isValid }) { throw ExitCode(OrchestratorExitCode.configInvalid.rawValue) }
        }

        /// A pinned device this machine doesn't have is a warning, not an error: the config may be meant for
        /// another machine, or for a GPU that is not plugged in yet.
        static func warnAboutMissingDevices(_ reports: [ConfigReport], global: GlobalOptions) async -> [ConfigReport] {
            var reports = reports
            let registry = DriverCatalog.registry()
            for index in reports.indices {
                guard let config = reports[index].config else { continue }
                let pins = config.gpu.devices ?? config.gpu.deviceID.map { [$0] } ?? []
                guard !pins.isEmpty else { continue }
                let backend = DeviceInventory.backend(
                    requested: global.backend ?? config.gpu.backend, devicesFileOption: global.devicesFile)
                let context = DriverContext(environment: global.environment, devicesFile: global.devicesFile)
                guard
                    let inventory = try? await DeviceInventory.discover(
                        backend: backend, registry: registry, context: context)
                else {
                    reports[index].issues.append(
                        ConfigIssue(
                            .warning, path: "gpu.backend", message: "backend '\(backend)' is not usable on this machine"
                        ))
                    continue
                }
                let gpus = inventory.devices.filter { !$0.isHost }
                for pin in pins where DeviceSelection.index(of: pin, in: gpus) == nil {
                    let known = gpus.enumerated().map {
                        "\($0.offset): \($0.element.llamaName ?? $0.element.description)"
                    }
                    reports[index].issues.append(
                        ConfigIssue(
                            .warning, path: config.gpu.devices == nil ? "gpu.device_id" : "gpu.devices",
                            message: "device '\(pin)' is not on this machine (\(inventory.backend): "
                                + (known.isEmpty ? "no GPU" : known.joined(separator: ", ")) + ")"))
                }
            }
            return reports
        }

        static func render(_ report: ConfigReport) -> String {
            var lines: [String] = []
            if report.isValid {
                let warnings = report.warnings.count
                lines.append(
                    "\(report.file): valid" + (warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : ""))
            } else {
                let count = report.errors.count
                lines.append("\(report.file): \(count) error\(count == 1 ? "" : "s")")
            }
            for issue in report.errors { lines.append("  error: \(issue)") }
            for issue in report.warnings { lines.append("  warning: \(issue)") }
            return lines.joined(separator: "\n")
        }
    }

    struct SchemaCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema",
            abstract: "Print the JSON Schema of instance configs (with this build's driver names)."
        )

        func execute() async throws {
            print(ConfigSchema.text(knownNames: KnownNames(backends: DriverCatalog.registry().names)))
        }
    }
}

/// One file's result as `config validate --json` prints it.
private struct ValidationOutput: Encodable {
    var file: String
    var name: String
    var valid: Bool
    var errors: [ConfigIssue]
    var warnings: [ConfigIssue]
    var config: InstanceConfig?

    init(_ report: ConfigReport) {
        file = report.file
        name = report.name
        valid = report.isValid
        errors = report.errors
        warnings = report.warnings
        config = report.config
    }
}
