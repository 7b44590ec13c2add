import BootService
import Foundation
import Host
import TestSupport
import Testing

/// Records service manager commands instead of running them, answering each with a fixed result.
final class RecordingRunner: SystemCommandRunning, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [[String]] = []
    private let answer: @Sendable ([String]) -> SystemCommandResult

    init(answer: @escaping @Sendable ([String]) -> SystemCommandResult = { _ in .init(status: 0, output: "") }) {
        self.answer = answer
    }

    var commands: [[String]] { lock.withLock { recorded } }

    func run(_ argv: [String]) async -> SystemCommandResult {
        lock.withLock { recorded.append(argv) }
        return answer(argv)
    }

    func isAvailable(_ program: String) -> Bool { true }
}

/// Install and uninstall into a temporary folder standing for the unit directory, with the service manager
/// replaced by a recorder: the real systemctl and launchctl are never called.
@Suite struct ServiceInstallerTests {
    func installer(
        _ target: ServiceTarget, _ scope: ServiceScope, in folder: String, runner: RecordingRunner,
        manages: Bool = true
    ) -> ServiceInstaller {
        ServiceInstaller(
            target: target, scope: scope, definition: ServiceUnitGoldenTests.posix, unitDirectory: folder + "/units",
            managesServices: manages, runner: runner)
    }

    @Test func systemdInstallWritesTheUnitReloadsAndEnablesThenUninstallLeavesNothing() async throws {
        let project = try TemporaryProject("install")
        defer { project.remove() }
        let runner = RecordingRunner()
        let service = installer(.systemd, .user, in: project.root, runner: runner)
        try await service.install(force: false, startNow: false)
        #expect(project.read("units/llama-orch.service") == (try ServiceUnitGoldenTests.golden("systemd-user.service")))
        let attributes = try FileManager.default.attributesOfItem(atPath: service.unitPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
        #expect(
            runner.commands == [
                ["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "llama-orch.service"],
            ])
        #expect(try await service.status().installed)
        #expect(try await service.status().current)

        let removal = try await service.uninstall(stopNow: true)
        #expect(removal.removed)
        #expect(
            runner.commands.suffix(2) == [
                ["systemctl", "--user", "disable", "--now", "llama-orch.service"],
                ["systemctl", "--user", "daemon-reload"],
            ])
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/units").isEmpty)
        #expect(try await !service.status().installed)
    }

    @Test func systemSystemdCommandsHaveNoUserFlagAndStartNowEnablesWithNow() async throws {
        let project = try TemporaryProject("system")
        defer { project.remove() }
        let runner = RecordingRunner()
        let service = installer(.systemd, .system, in: project.root, runner: runner)
        let plan = try service.installPlan(startNow: true)
        #expect(
            plan.commands == [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", "llama-orch.service"]])
        #expect(plan.contents == (try ServiceUnitGoldenTests.golden("systemd-system.service")))
        #expect(runner.commands.isEmpty, "a plan runs nothing")
        #expect(!project.exists("units"), "a plan writes nothing")
    }

    @Test func aFolderOfTheUsersChoiceIsWrittenWithoutTouchingTheServiceManager() async throws {
        let project = try TemporaryProject("unmanaged")
        defer { project.remove() }
        let runner = RecordingRunner()
        let service = installer(.systemd, .system, in: project.root, runner: runner, manages: false)
        try await service.install(force: false, startNow: true)
        #expect(project.exists("units/llama-orch.service"))
        _ = try await service.status()
        _ = try await service.uninstall(stopNow: true)
        #expect(runner.commands.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/units").isEmpty)
    }

    @Test func aDifferentUnitIsReplacedOnlyWithForce() async throws {
        let project = try TemporaryProject("force")
        defer { project.remove() }
        let runner = RecordingRunner()
        let service = installer(.systemd, .user, in: project.root, runner: runner)
        try project.write("units/llama-orch.service", "[Service]\nExecStart=/bin/true\n")
        await #expect(throws: ServiceError.unitExists(path: service.unitPath)) {
            try await service.install(force: false, startNow: false)
        }
        #expect(project.read("units/llama-orch.service") == "[Service]\nExecStart=/bin/true\n")
        #expect(try await service.status().installed)
        #expect(try await !service.status().current)
        try await service.install(force: true, startNow: false)
        #expect(try await service.status().current)
        // Installing the same unit again is not a conflict.
        try await service.install(force: false, startNow: false)
    }

    @Test func aFailingServiceManagerIsReportedWithItsOutput() async throws {
        let project = try TemporaryProject("fail")
        defer { project.remove() }
        let runner = RecordingRunner { argv in
            argv.contains("enable")
                ? .init(status: 1, output: "Failed to connect to bus\n") : .init(status: 0, output: "")
        }
        let service = installer(.systemd, .user, in: project.root, runner: runner)
        await #expect(
            throws: ServiceError.managerFailed(
                command: ["systemctl", "--user", "enable", "llama-orch.service"], status: 1,
                output: "Failed to connect to bus\n")
        ) {
            try await service.install(force: false, startNow: false)
        }
    }

    @Test func launchdInstallBootstrapsThePlistAndUninstallBootsItOut() async throws {
        let project = try TemporaryProject("launchd")
        defer { project.remove() }
        let runner = RecordingRunner()
        let service = installer(.launchd, .system, in: project.root, runner: runner)
        try await service.install(force: false, startNow: false)
        #expect(project.read("units/llama-orch.plist") == (try ServiceUnitGoldenTests.golden("launchd-system.plist")))
        #expect(
            runner.commands == [
                ["launchctl", "bootout", "system/llama-orch"],
                ["launchctl", "bootstrap", "system", service.unitPath],
            ])
        _ = try await service.uninstall(stopNow: false)
        #expect(runner.commands.last == ["launchctl", "bootout", "system/llama-orch"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.root + "/units").isEmpty)
    }

    @Test func statusAsksSystemctlWhetherTheUnitIsEnabledAndActive() async throws {
        let project = try TemporaryProject("status")
        defer { project.remove() }
        let runner = RecordingRunner { argv in
            argv.contains("is-enabled") ? .init(status: 0, output: "enabled\n") : .init(status: 3, output: "inactive\n")
        }
        let service = installer(.systemd, .system, in: project.root, runner: runner)
        let status = try await service.status()
        #expect(!status.installed)
        #expect(status.manager == ["is-enabled": "enabled", "is-active": "inactive"])
        #expect(
            runner.commands == [
                ["systemctl", "is-enabled", "llama-orch.service"], ["systemctl", "is-active", "llama-orch.service"],
            ])
    }

    @Test func defaultUnitDirectories() {
        let environment = ["HOME": "/home/me"]
        #expect(
            ServiceInstaller.defaultUnitDirectory(target: .systemd, scope: .user, environment: environment)
                == "/home/me/.config/systemd/user")
        #expect(
            ServiceInstaller.defaultUnitDirectory(
                target: .systemd, scope: .user, environment: ["HOME": "/home/me", "XDG_CONFIG_HOME": "/cfg"])
                == "/cfg/systemd/user")
        #expect(
            ServiceInstaller.defaultUnitDirectory(target: .systemd, scope: .system, environment: environment)
                == "/etc/systemd/system")
        #expect(
            ServiceInstaller.defaultUnitDirectory(target: .launchd, scope: .user, environment: environment)
                == "/home/me/Library/LaunchAgents")
        #expect(
            ServiceInstaller.defaultUnitDirectory(target: .launchd, scope: .system, environment: environment)
                == "/Library/LaunchDaemons")
        #expect(ServiceInstaller.defaultUnitDirectory(target: .nssm, scope: .system, environment: environment) == nil)
    }
}
