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
            abstract: "Check instance configs and the project file; all of them when no instance is named.",
            discussion: """
                With no NAME, every instances/*/config.json and llama-orch.json (when it exists) are checked; with \
                --project, the project file alone. Exits 0 when every file is valid, 65 when any is invalid, 66 when \
                a named instance is missing.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Instances to check (default: all under instances/).")
        var names: [String] = []

        @Flag(name: .long, help: "Check the project file (llama-orch.json) alone.")
        var project = false

        @Flag(name: .long, help: "Print the reports as JSON.")
        var json = false

        func validate() throws {
            if project && !names.isEmpty {
                throw ValidationError("--project checks llama-orch.json alone; name no instance with it")
            }
        }

        func execute() async throws {
            try InstanceNameError.check(names)
            let root = try global.projectRoot()
            let projectReport = ProjectSettings.load(root: root)
            if project {
                try reportProject(projectReport)
                return
            }
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
            // The project file joins a check of everything, when there is one.
            let projectFile = names.isEmpty && projectReport.exists ? projectReport : nil
            if json {
                try printJSON((projectFile.map { [ValidationOutput($0)] } ?? []) + reports.map(ValidationOutput.init))
            } else {
                if let projectFile { print(Self.render(projectFile)) }
                if reports.isEmpty {
                    printWarning(
                        "no instances in \(root.instancesDirectory); create one with 'llama-orch init NAME --model PATH'"
                    )
                }
                for report in reports { print(Self.render(report)) }
            }
            if reports.contains(where: { !$0.isValid }) || projectFile?.isValid == false {
                throw ExitCode(OrchestratorExitCode.configInvalid.rawValue)
            }
        }

        /// `--project`: the project file alone; no file is valid (every default applies).
        private func reportProject(_ report: ProjectSettingsReport) throws {
            if json {
                try printJSON([ValidationOutput(report)])
            } else if report.exists {
                print(Self.render(report))
            } else {
                print("\(report.file): no such file; every default applies (see 'llama-orch config schema --project')")
            }
            if !report.isValid { throw ExitCode(OrchestratorExitCode.configInvalid.rawValue) }
        }

        static func render(_ report: ProjectSettingsReport) -> String {
            render(
                file: report.file, errors: report.issues.filter { $0.severity == .error },
                warnings: report.issues.filter { $0.severity == .warning })
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
            render(file: report.file, errors: report.errors, warnings: report.warnings)
        }

        static func render(file: String, errors: [ConfigIssue], warnings: [ConfigIssue]) -> String {
            var lines: [String] = []
            if errors.isEmpty {
                lines.append(
                    "\(file): valid"
                        + (warnings.isEmpty ? "" : " (\(warnings.count) warning\(warnings.count == 1 ? "" : "s"))"))
            } else {
                lines.append("\(file): \(errors.count) error\(errors.count == 1 ? "" : "s")")
            }
            for issue in errors { lines.append("  error: \(issue)") }
            for issue in warnings { lines.append("  warning: \(issue)") }
            return lines.joined(separator: "\n")
        }
    }

    struct SchemaCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema",
            abstract: "Print the JSON Schema of instance configs (with this build's driver names)."
        )

        @Flag(name: .long, help: "The schema of the project file, llama-orch.json, instead.")
        var project = false

        func execute() async throws {
            print(ConfigSchema.text(knownNames: KnownNames(backends: DriverCatalog.registry().names), project: project))
        }
    }
}

/// One file's result as `config validate --json` prints it: an instance config (`kind` "instance", its `name` and
/// `config`) or the project file (`kind` "project", its `settings`).
private struct ValidationOutput: Encodable {
    var kind: String
    var file: String
    var name: String?
    var valid: Bool
    var errors: [ConfigIssue]
    var warnings: [ConfigIssue]
    var config: InstanceConfig?
    var settings: ProjectSettings?

    init(_ report: ConfigReport) {
        kind = "instance"
        file = report.file
        name = report.name
        valid = report.isValid
        errors = report.errors
        warnings = report.warnings
        config = report.config
    }

    init(_ report: ProjectSettingsReport) {
        kind = "project"
        file = report.file
        valid = report.isValid
        errors = report.issues.filter { $0.severity == .error }
        warnings = report.issues.filter { $0.severity == .warning }
        // Keys written in the file are secrets: the output says there is one, not what it is.
        settings = report.settings.map { settings in
            var redacted = settings
            redacted.router.apiKeys = settings.router.apiKeys.map {
                if case .environment = $0 { $0 } else { .literal("(redacted)") }
            }
            return redacted
        }
    }
}
