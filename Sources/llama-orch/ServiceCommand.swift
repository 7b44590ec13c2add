import ArgumentParser
import BootService
import Foundation
import Host
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct ServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Run the daemon at boot: install a systemd or launchd unit, or print NSSM and Task Scheduler text.",
        discussion: """
            The unit runs '<this binary> daemon start --foreground --root <root>'; the daemon starts the \
            instances marked "autostart": true (see 'llama-orch autostart'). The target defaults to the \
            platform's own (systemd on Linux, launchd on macOS); nssm and schtasks are printed as text to \
            run on Windows. --unit-dir (or LLAMA_ORCH_UNIT_DIR) writes the unit to another folder and leaves \
            the service manager alone.
            """,
        subcommands: [InstallCommand.self, UninstallCommand.self, StatusCommand.self, PrintCommand.self]
    )

    struct InstallCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Write the unit and enable it at boot (systemctl daemon-reload and enable; launchctl bootstrap).",
            discussion: "A unit file with other contents is replaced only with --force (exit 72 otherwise)."
        )

        @OptionGroup var global: RootOptions
        @OptionGroup var service: ServiceOptions

        @Flag(name: .long, help: "Print what would be written and run, and do nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Replace a unit file with other contents.")
        var force = false

        @Flag(name: .long, help: "Start the daemon now as well (systemctl enable --now).")
        var now = false

        func execute() async throws {
            let resolved = try service.resolution(for: global)
            guard resolved.target.installsHere else {
                printWarning(
                    "\(resolved.target.rawValue) can't be installed from here; run this text on Windows (see 'service print')"
                )
                print(try resolved.installer.contents(), terminator: "")
                return
            }
            let installer = resolved.installer
            let before = try installer.fileState()
            if dryRun {
                let plan = try installer.installPlan(startNow: now)
                let verb = before == .absent ? "write" : before == .current ? "keep (unchanged)" : "replace"
                let note = before == .different && !force ? " (needs --force: the file has other contents)" : ""
                print("would \(verb) \(plan.unitPath)\(note):")
                print(plan.contents ?? "", terminator: "")
                for command in plan.commands { print("would run: \(command.joined(separator: " "))") }
                if !installer.managesServices { print("would run nothing else: the unit folder was given") }
                return
            }
            if resolved.target == .launchd {
                // launchd opens StandardOutPath and StandardErrorPath but does not create their folder.
                try FileManager.default.createDirectory(
                    atPath: resolved.definition.root + "/logs", withIntermediateDirectories: true)
            }
            let executed = try await installer.install(force: force, startNow: now)
            print(before == .current ? "unchanged \(installer.unitPath)" : "wrote \(installer.unitPath)")
            for command in executed {
                let failed = command.result.status == 0 ? "" : " (exit \(command.result.status), ignored)"
                print("ran: \(command.argv.joined(separator: " "))\(failed)")
            }
            if !installer.managesServices {
                print("the service manager was not told (unit folder given); nothing was enabled")
            } else if resolved.target == .systemd {
                let flag = resolved.scope == .user ? "--user " : ""
                if !now { print("start it now with: systemctl \(flag)start \(installer.unitName)") }
                if resolved.scope == .user {
                    print(
                        "a user unit starts with your user manager; to start it at boot without logging in: "
                            + "loginctl enable-linger \(currentUserName() ?? "$USER")")
                }
            }
        }
    }

    struct UninstallCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "uninstall",
            abstract: "Disable the unit and remove its file (systemctl disable and daemon-reload; launchctl bootout).",
            discussion: """
                The llama-server instances keep running unless --now stops the daemon (which leaves them to \
                the daemon's own shutdown). Removing a unit that isn't there is not an error.
                """
        )

        @OptionGroup var global: RootOptions
        @OptionGroup var service: ServiceOptions

        @Flag(name: .long, help: "Print what would be removed and run, and do nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Stop the daemon as well (systemctl disable --now).")
        var now = false

        func execute() async throws {
            let resolved = try service.resolution(for: global)
            guard resolved.target.installsHere else {
                throw CLIError(
                    .usage,
                    "\(resolved.target.rawValue) is not installed from here; on Windows run "
                        + (resolved.target == .nssm
                            ? "'nssm stop \(resolved.definition.name)' and 'nssm remove \(resolved.definition.name) confirm'"
                            : "'schtasks /Delete /TN \(resolved.definition.name) /F'"))
            }
            let installer = resolved.installer
            if dryRun {
                let plan = installer.uninstallPlan(stopNow: now)
                let exists = FileManager.default.fileExists(atPath: plan.unitPath)
                print(exists ? "would remove \(plan.unitPath)" : "no unit at \(plan.unitPath); nothing to remove")
                if exists { for command in plan.commands { print("would run: \(command.joined(separator: " "))") } }
                return
            }
            let (removed, executed) = try await installer.uninstall(stopNow: now)
            for command in executed {
                let failed = command.result.status == 0 ? "" : " (exit \(command.result.status), ignored)"
                print("ran: \(command.argv.joined(separator: " "))\(failed)")
            }
            print(removed ? "removed \(installer.unitPath)" : "no unit at \(installer.unitPath); nothing to remove")
        }
    }

    struct StatusCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Say whether the unit is installed, where, and what the service manager says of it.",
            discussion: "Exits 0 when the unit file exists, 66 when it doesn't."
        )

        @OptionGroup var global: RootOptions
        @OptionGroup var service: ServiceOptions

        @Flag(name: .long, help: "Print the status as JSON.")
        var json = false

        func execute() async throws {
            let resolved = try service.resolution(for: global)
            guard resolved.target.installsHere else {
                throw CLIError(
                    .usage,
                    "\(resolved.target.rawValue) units can't be checked from here; on Windows run "
                        + (resolved.target == .nssm
                            ? "'nssm status \(resolved.definition.name)'"
                            : "'schtasks /Query /TN \(resolved.definition.name)'"))
            }
            let status = try await resolved.installer.status()
            if json {
                try printJSON(status)
            } else {
                print("target: \(status.target.rawValue) (\(status.scope.rawValue))")
                let state =
                    !status.installed
                    ? "not installed"
                    : status.current
                        ? "installed, up to date"
                        : "installed, differs from what 'service install' would write now (--force replaces it)"
                print("unit: \(status.unitPath) (\(state))")
                let tool = status.target == .systemd ? "systemctl " : "launchctl "
                for (key, value) in status.manager.sorted(by: { $0.key < $1.key }) { print("\(tool)\(key): \(value)") }
                if !resolved.installer.managesServices { print("service manager: not asked (unit folder given)") }
            }
            if !status.installed { throw ExitCode(OrchestratorExitCode.notFound.rawValue) }
        }
    }

    struct PrintCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "print",
            abstract: "Print the unit, plist, NSSM commands or Task Scheduler XML on standard output."
        )

        @OptionGroup var global: RootOptions
        @OptionGroup var service: ServiceOptions

        func execute() async throws {
            print(try service.resolution(for: global).installer.contents(), terminator: "")
        }
    }
}

/// The options every `service` subcommand shares: what to write, for whom, and where.
struct ServiceOptions: ParsableArguments {
    enum Scope: String, EnumerableFlag {
        case user, system

        static func help(for value: Scope) -> ArgumentHelp? {
            switch value {
            case .user: "A unit for your user (default unless root)."
            case .system: "A unit for the machine, started at boot (default as root)."
            }
        }
    }

    @Flag var scope: Scope?

    @Option(name: .long, help: "systemd, launchd, nssm or schtasks (default: the platform's own).")
    var target: String?

    @Option(name: .long, help: "The unit's name (several roots need several names).")
    var name: String = ServiceDefinition.defaultName

    @Option(name: .long, help: "The llama-orch binary the unit runs (default: this one).", completion: .file())
    var binary: String?

    @Option(name: .customLong("run-as"), help: "Account a system unit runs as (default: SUDO_USER, else you).")
    var runAs: String?

    @Option(name: .customLong("env"), help: "KEY=VALUE for the daemon's environment; repeatable.")
    var environment: [String] = []

    @Option(
        name: .long, help: "Write the unit here and leave the service manager alone (also LLAMA_ORCH_UNIT_DIR).",
        completion: .directory)
    var unitDir: String?

    /// Variables passed on to the daemon when set here: what the llama-server search reads (`HOME` aside: the
    /// service manager sets the daemon's own), and where the devices are.
    static let inheritedVariables =
        LlamaServerSearch.variables.filter { $0 != "HOME" } + [
            "LLAMA_ORCH_DEVICES", "VK_ICD_FILENAMES", "VK_DRIVER_FILES", "GGML_VK_VISIBLE_DEVICES",
            "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
        ]

    /// Everything resolved: the definition and an installer for the chosen folder.
    struct Resolved {
        var target: ServiceTarget
        var scope: ServiceScope
        var definition: ServiceDefinition
        var installer: ServiceInstaller
    }

    func resolution(for global: RootOptions) throws -> Resolved {
        let target: ServiceTarget
        if let name = self.target {
            guard let known = ServiceTarget(rawValue: name) else {
                throw CLIError(
                    .usage,
                    "unknown target '\(name)'; expected one of \(ServiceTarget.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            target = known
        } else {
            target = .platformDefault
        }
        let scope: ServiceScope =
            switch self.scope {
            case .user: .user
            case .system: .system
            case nil: geteuid() == 0 ? .system : .user
            }
        let root = try global.projectRoot()
        let environment = global.environment
        var variables: [String: String] = [:]
        if target.installsHere {
            for name in Self.inheritedVariables {
                if let value = environment[name], !value.isEmpty { variables[name] = value }
            }
        }
        for pair in self.environment {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw CLIError(.usage, "--env expects KEY=VALUE, found '\(pair)'")
            }
            variables[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        let user: String? =
            if let runAs {
                runAs
            } else if scope == .system && target.installsHere {
                if let sudoUser = environment["SUDO_USER"], !sudoUser.isEmpty, sudoUser != "root" {
                    sudoUser
                } else {
                    geteuid() == 0 ? nil : currentUserName()
                }
            } else {
                nil
            }
        // A Windows path (C:\...) for the Windows targets is taken as written.
        let binaryPath =
            binary.map { target.installsHere ? resolve($0, against: global.workingDirectory) : $0 }
            ?? serviceBinary(workingDirectory: global.workingDirectory, environment: environment)
        let definition = ServiceDefinition(
            name: name, binary: binaryPath, root: root.path, environment: variables, user: user)
        let chosenFolder = unitDir ?? environment["LLAMA_ORCH_UNIT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let folder =
            chosenFolder.map { resolve($0, against: global.workingDirectory) }
            ?? ServiceInstaller.defaultUnitDirectory(target: target, scope: scope, environment: environment) ?? ""
        let installer = ServiceInstaller(
            target: target, scope: scope, definition: definition, unitDirectory: folder,
            managesServices: chosenFolder == nil)
        // Render once now, so a value that can't be written is reported before anything happens.
        _ = try installer.contents()
        return Resolved(target: target, scope: scope, definition: definition, installer: installer)
    }
}

/// The absolute path this process was started as: argv[0] made absolute (a symlink such as
/// /usr/local/bin/llama-orch is kept, so upgrades behind it apply), else found in PATH, else /proc/self/exe.
func currentExecutable(workingDirectory: String, environment: [String: String]) -> String {
    let argument = CommandLine.arguments.first ?? ""
    if argument.contains("/") { return resolve(argument, against: workingDirectory) }
    if !argument.isEmpty, let found = ProcessCommandRunner.locate(argument) {
        return resolve(found, against: workingDirectory)
    }
    return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? argument
}

/// The llama-orch a boot unit runs when `--binary` is not given: a stable path, not one a rebuild or a `swift
/// package clean` replaces. This binary when it is installed; when it runs from a build folder (`.build*/`), the
/// installed `llama-orch` on the PATH (scripts/install.sh puts it in PREFIX/bin); else this one, with a warning.
func serviceBinary(workingDirectory: String, environment: [String: String]) -> String {
    let current = currentExecutable(workingDirectory: workingDirectory, environment: environment)
    guard isInBuildFolder(current) else { return current }
    if let installed = ProgramRunner.locate("llama-orch", path: environment["PATH"] ?? ""),
        case let path = resolve(installed, against: workingDirectory), !isInBuildFolder(path)
    {
        return path
    }
    printWarning(
        "the unit would run \(current), inside a build folder; install llama-orch (scripts/install.sh) or pass "
            + "--binary")
    return current
}

/// Whether `path` lies in a SwiftPM build folder (a component starting with `.build`).
private func isInBuildFolder(_ path: String) -> Bool {
    path.split(separator: "/").contains { $0.hasPrefix(".build") }
}

/// The name of the account this process runs as.
func currentUserName() -> String? {
    guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return nil }
    return String(cString: name)
}
