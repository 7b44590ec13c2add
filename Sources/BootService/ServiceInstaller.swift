import Foundation
import Host

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Installs, removes and inspects the daemon's unit for systemd or launchd.
///
/// The unit directory is a parameter, so tests install into a temporary folder; the service manager is told
/// about changes (`systemctl daemon-reload`, `enable`; `launchctl bootstrap`) only when `managesServices` is
/// true, and through an injected runner.
public struct ServiceInstaller: Sendable {
    public var target: ServiceTarget
    public var scope: ServiceScope
    public var definition: ServiceDefinition
    /// The folder the unit file is written to.
    public var unitDirectory: String
    /// Whether to run the service manager's commands; false when the unit goes to a folder of the user's choice.
    public var managesServices: Bool
    public var runner: any SystemCommandRunning

    public init(
        target: ServiceTarget, scope: ServiceScope, definition: ServiceDefinition, unitDirectory: String,
        managesServices: Bool, runner: any SystemCommandRunning = ProcessCommandRunner()
    ) {
        self.target = target
        self.scope = scope
        self.definition = definition
        self.unitDirectory = unitDirectory
        self.managesServices = managesServices
        self.runner = runner
    }

    /// Where a unit for `target` and `scope` lives by default; `nil` for the Windows targets, which are only
    /// printed.
    public static func defaultUnitDirectory(
        target: ServiceTarget, scope: ServiceScope, environment: [String: String]
    ) -> String? {
        let home = environment["HOME"] ?? NSHomeDirectory()
        switch (target, scope) {
        case (.systemd, .user):
            let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
            return config + "/systemd/user"
        case (.systemd, .system): return "/etc/systemd/system"
        case (.launchd, .user): return home + "/Library/LaunchAgents"
        case (.launchd, .system): return "/Library/LaunchDaemons"
        case (.nssm, _), (.schtasks, _): return nil
        }
    }

    /// The unit file's path.
    public var unitPath: String { unitDirectory + "/" + target.fileName(serviceName: definition.name) }

    /// The unit's name as the service manager knows it: `llama-orch.service`, or the launchd label.
    public var unitName: String { target == .systemd ? definition.name + ".service" : definition.name }

    /// The unit text that `install` writes.
    public func contents() throws(ServiceError) -> String {
        try ServiceUnit.render(target: target, scope: scope, definition: definition)
    }

    /// What is at `unitPath` now, compared with what `install` would write.
    public func fileState() throws(ServiceError) -> UnitFileState {
        guard let data = FileManager.default.contents(atPath: unitPath) else {
            return FileManager.default.fileExists(atPath: unitPath) ? .different : .absent
        }
        return String(decoding: data, as: UTF8.self) == (try contents()) ? .current : .different
    }

    // MARK: Install

    /// What `install` would do: the file to write and the service manager commands, for `--dry-run`.
    public func installPlan(startNow: Bool) throws(ServiceError) -> ServicePlan {
        ServicePlan(
            unitPath: unitPath, contents: try contents(), commands: managesServices ? installCommands(startNow) : [],
            removesUnit: false)
    }

    /// Writes the unit (atomically, mode 0644) and tells the service manager, in that order.
    ///
    /// - Parameters:
    ///   - force: replace a unit file with other contents.
    ///   - startNow: start the daemon as well as enabling it at boot (`systemctl enable --now`).
    /// - Returns: the commands run, with their results.
    /// - Throws: `ServiceError.unitExists` (no `force`), `.fileSystem`, or `.managerFailed` with the unit left
    ///   written.
    @discardableResult
    public func install(force: Bool, startNow: Bool) async throws(ServiceError) -> [ExecutedCommand] {
        let text = try contents()
        let state = try fileState()
        if state == .different && !force { throw .unitExists(path: unitPath) }
        if state != .current {
            do {
                try FileManager.default.createDirectory(atPath: unitDirectory, withIntermediateDirectories: true)
                try writeUnit(text)
            } catch let error as ServiceError {
                throw error
            } catch {
                throw .fileSystem(path: unitPath, reason: error.localizedDescription)
            }
        }
        guard managesServices else { return [] }
        var executed: [ExecutedCommand] = []
        if target == .launchd {
            // A job loaded from an earlier install must go before bootstrap loads the new plist.
            let bootout = launchctlBootout()
            executed.append(ExecutedCommand(argv: bootout, result: await runner.run(bootout)))
        }
        for argv in installCommands(startNow) {
            let result = await runner.run(argv)
            executed.append(ExecutedCommand(argv: argv, result: result))
            guard result.status == 0 else {
                throw .managerFailed(command: argv, status: result.status, output: result.output)
            }
        }
        return executed
    }

    private func installCommands(_ startNow: Bool) -> [[String]] {
        switch target {
        case .systemd:
            return [systemctl(["daemon-reload"]), systemctl(["enable"] + (startNow ? ["--now"] : []) + [unitName])]
        case .launchd:
            return [["launchctl", "bootstrap", launchdDomain, unitPath]]
        case .nssm, .schtasks:
            return []
        }
    }

    // MARK: Uninstall

    /// What `uninstall` would do, for `--dry-run`.
    public func uninstallPlan(stopNow: Bool) -> ServicePlan {
        let (before, after) = uninstallCommands(stopNow)
        return ServicePlan(
            unitPath: unitPath, contents: nil, commands: managesServices ? before + after : [], removesUnit: true)
    }

    /// Disables the unit, removes its file and tells the service manager.
    ///
    /// A failing `disable` or `bootout` (a unit that was never enabled or loaded) does not stop the removal;
    /// its result is in the returned list.
    /// - Parameter stopNow: stop the daemon too (`systemctl disable --now`); launchd always stops it.
    /// - Returns: whether a unit file was removed, and the commands run with their results.
    public func uninstall(stopNow: Bool) async throws(ServiceError) -> (removed: Bool, commands: [ExecutedCommand]) {
        var executed: [ExecutedCommand] = []
        let (before, after) = uninstallCommands(stopNow)
        let exists = FileManager.default.fileExists(atPath: unitPath)
        if managesServices && exists {
            for argv in before { executed.append(ExecutedCommand(argv: argv, result: await runner.run(argv))) }
        }
        if exists {
            do {
                try FileManager.default.removeItem(atPath: unitPath)
            } catch {
                throw .fileSystem(path: unitPath, reason: error.localizedDescription)
            }
        }
        if managesServices && exists {
            for argv in after {
                let result = await runner.run(argv)
                executed.append(ExecutedCommand(argv: argv, result: result))
                guard result.status == 0 else {
                    throw .managerFailed(command: argv, status: result.status, output: result.output)
                }
            }
        }
        return (exists, executed)
    }

    /// The commands before and after the file goes.
    private func uninstallCommands(_ stopNow: Bool) -> ([[String]], [[String]]) {
        switch target {
        case .systemd:
            return ([systemctl(["disable"] + (stopNow ? ["--now"] : []) + [unitName])], [systemctl(["daemon-reload"])])
        case .launchd:
            return ([launchctlBootout()], [])
        case .nssm, .schtasks:
            return ([], [])
        }
    }

    // MARK: Status

    /// Whether the unit file exists and is current, and what the service manager says of it.
    public func status() async throws(ServiceError) -> ServiceStatus {
        let state = try fileState()
        var manager: [String: String] = [:]
        if managesServices {
            switch target {
            case .systemd where runner.isAvailable("systemctl"):
                for query in ["is-enabled", "is-active"] {
                    let result = await runner.run(systemctl([query, unitName]))
                    manager[query] = Self.firstLine(result.output) ?? "exit \(result.status)"
                }
            case .launchd where runner.isAvailable("launchctl"):
                let result = await runner.run(["launchctl", "print", launchdDomain + "/" + unitName])
                manager["loaded"] = result.status == 0 ? "yes" : "no"
            default:
                break
            }
        }
        return ServiceStatus(
            target: target, scope: scope, unitPath: unitPath, installed: state != .absent,
            current: state == .current, manager: manager)
    }

    private static func firstLine(_ text: String) -> String? {
        text.split(whereSeparator: \.isNewline).first.map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    // MARK: Helpers

    private func systemctl(_ arguments: [String]) -> [String] {
        ["systemctl"] + (scope == .user ? ["--user"] : []) + arguments
    }

    private var launchdDomain: String { scope == .user ? "gui/\(getuid())" : "system" }

    private func launchctlBootout() -> [String] {
        ["launchctl", "bootout", launchdDomain + "/" + unitName]
    }

    private func writeUnit(_ text: String) throws {
        let temporary = unitDirectory + "/.\(target.fileName(serviceName: definition.name)).tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
            throw ServiceError.fileSystem(path: temporary, reason: "cannot create the file (permissions?)")
        }
        // Service managers read units as root or as the user: readable by all, writable by the owner.
        chmod(temporary, 0o644)
        guard rename(temporary, unitPath) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw ServiceError.fileSystem(path: unitPath, reason: reason)
        }
    }
}

/// A unit file compared with what `install` would write now.
public enum UnitFileState: String, Sendable, Codable {
    /// No file.
    case absent
    /// The file holds exactly what `install` would write.
    case current
    /// The file holds something else (an older install, other options, a hand edit).
    case different
}

/// What an install or uninstall would do, for `--dry-run`.
public struct ServicePlan: Sendable, Equatable {
    public var unitPath: String
    /// The text to write; `nil` for an uninstall.
    public var contents: String?
    /// The service manager commands, in order.
    public var commands: [[String]]
    /// Whether the plan removes the unit file.
    public var removesUnit: Bool
}

/// A service manager command that was run, and its result.
public struct ExecutedCommand: Sendable, Equatable {
    public var argv: [String]
    public var result: SystemCommandResult
}

/// What `service status` reports.
public struct ServiceStatus: Sendable, Equatable, Codable {
    public var target: ServiceTarget
    public var scope: ServiceScope
    public var unitPath: String
    /// Whether the unit file exists.
    public var installed: Bool
    /// Whether the file holds what `install` would write now.
    public var current: Bool
    /// The service manager's answers: `is-enabled` and `is-active` for systemd, `loaded` for launchd.
    public var manager: [String: String]

    enum CodingKeys: String, CodingKey {
        case target, scope, installed, current, manager
        case unitPath = "unit_path"
    }
}
