import Foundation
import TestSupport
import Testing

/// `llama-orch service`: every test points the unit folder at a temporary folder (--unit-dir or
/// LLAMA_ORCH_UNIT_DIR), so the real systemctl and the machine's unit folders are never touched.
@Suite(.serialized) struct ServiceCommandTests {
    @Test func installThenUninstallRoundTripsThroughATemporaryUnitFolder() throws {
        let project = try TemporaryProject("service")
        defer { project.remove() }
        let units = project.root + "/units"
        let options = ["--user", "--unit-dir", units, "--env", "LLAMA_SERVER=/opt/llama-server"]
        let printed = try CommandRunner.llamaOrch(["service", "print"] + options, in: project.root)
        #expect(printed.status == 0, "\(printed.stderr)")
        #expect(
            printed.stdout.contains(
                "ExecStart=\(CommandRunner.product("llama-orch")) daemon start --foreground --root \(project.root)\n"),
            "\(printed.stdout)")
        #expect(printed.stdout.contains("Environment=\"LLAMA_SERVER=/opt/llama-server\"\n"))
        #expect(printed.stdout.contains("WantedBy=default.target\n"))

        let dryRun = try CommandRunner.llamaOrch(["service", "install", "--dry-run"] + options, in: project.root)
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout.hasPrefix("would write \(units)/llama-orch.service:\n" + printed.stdout))
        #expect(!project.exists("units"), "a dry run writes nothing")

        let install = try CommandRunner.llamaOrch(["service", "install"] + options, in: project.root)
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stdout.contains("wrote \(units)/llama-orch.service"))
        #expect(!install.stdout.contains("ran:"), "no service manager command with a unit folder given")
        #expect(project.read("units/llama-orch.service") == printed.stdout)

        let status = try CommandRunner.llamaOrch(["service", "status", "--json"] + options, in: project.root)
        #expect(status.status == 0, "\(status.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(json["installed"] as? Bool == true)
        #expect(json["current"] as? Bool == true)
        #expect(json["unit_path"] as? String == units + "/llama-orch.service")

        let again = try CommandRunner.llamaOrch(["service", "install"] + options, in: project.root)
        #expect(again.status == 0, "reinstalling the same unit: \(again.stderr)")
        #expect(again.stdout.contains("unchanged"))

        let uninstall = try CommandRunner.llamaOrch(["service", "uninstall"] + options, in: project.root)
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(uninstall.stdout.contains("removed \(units)/llama-orch.service"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: units).isEmpty, "uninstall leaves nothing")
        let gone = try CommandRunner.llamaOrch(["service", "status"] + options, in: project.root)
        #expect(gone.status == 66)
        #expect(gone.stdout.contains("not installed"))
    }

    @Test func theUnitFolderCanComeFromTheEnvironmentAndAnOtherUnitNeedsForce() throws {
        let project = try TemporaryProject("service-env")
        defer { project.remove() }
        let environment = ["LLAMA_ORCH_UNIT_DIR": project.root + "/units"]
        try project.write("units/llama-orch.service", "[Service]\nExecStart=/bin/true\n")
        let refused = try CommandRunner.llamaOrch(
            ["service", "install", "--system"], in: project.root, environment: environment)
        #expect(refused.status == 72, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("--force"))
        #expect(project.read("units/llama-orch.service") == "[Service]\nExecStart=/bin/true\n")
        let forced = try CommandRunner.llamaOrch(
            ["service", "install", "--system", "--force", "--run-as", "nobody"], in: project.root,
            environment: environment)
        #expect(forced.status == 0, "\(forced.stderr)")
        let unit = try #require(project.read("units/llama-orch.service"))
        #expect(unit.contains("User=nobody\n"))
        #expect(unit.contains("WantedBy=multi-user.target\n"))
        let removed = try CommandRunner.llamaOrch(
            ["service", "uninstall", "--system"], in: project.root, environment: environment)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!project.exists("units/llama-orch.service"))
    }

    @Test func theInstalledUnitVerifiesWithSystemdAnalyze() throws {
        guard
            let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            Issue.record("systemd-analyze is not installed: install the systemd package (apt-get install systemd)")
            return
        }
        let project = try TemporaryProject("service-verify")
        defer { project.remove() }
        let install = try CommandRunner.llamaOrch(
            ["service", "install", "--system", "--unit-dir", project.root + "/units"], in: project.root)
        #expect(install.status == 0, "\(install.stderr)")
        // ExecStart names the llama-orch that ran, a real executable, as systemd-analyze requires.
        let result = try CommandRunner.run(analyze, ["verify", project.root + "/units/llama-orch.service"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test func everyTargetPrints() throws {
        let project = try TemporaryProject("service-print")
        defer { project.remove() }
        let launchd = try CommandRunner.llamaOrch(
            ["service", "print", "--target", "launchd", "--user", "--binary", "bin/llama-orch"], in: project.root)
        #expect(launchd.status == 0, "\(launchd.stderr)")
        let plist = try PropertyListSerialization.propertyList(
            from: Data(launchd.stdout.utf8), options: [], format: nil)
        let arguments = (plist as? [String: Any])?["ProgramArguments"] as? [String]
        #expect(arguments?.first == project.root + "/bin/llama-orch", "a relative --binary is made absolute")
        let nssm = try CommandRunner.llamaOrch(
            ["service", "print", "--target", "nssm", "--binary", #"C:\llama-orch\llama-orch.exe"#], in: project.root)
        #expect(nssm.status == 0, "\(nssm.stderr)")
        #expect(nssm.stdout.contains(#"nssm install llama-orch C:\llama-orch\llama-orch.exe"#), "\(nssm.stdout)")
        #expect(nssm.stdout.contains("nssm set llama-orch AppKillProcessTree 0"))
        #expect(!nssm.stdout.contains("PATH="), "a Linux PATH is not passed to Windows")
        let schtasks = try CommandRunner.llamaOrch(
            ["service", "print", "--target", "schtasks", "--system"], in: project.root)
        #expect(schtasks.status == 0, "\(schtasks.stderr)")
        #expect(schtasks.stdout.contains("<BootTrigger>"))
        let windowsInstall = try CommandRunner.llamaOrch(
            ["service", "install", "--target", "nssm", "--binary", #"C:\llama-orch\llama-orch.exe"#],
            in: project.root)
        #expect(windowsInstall.status == 0)
        #expect(windowsInstall.stderr.contains("can't be installed from here"))
        #expect(windowsInstall.stdout == nssm.stdout)
        let unknown = try CommandRunner.llamaOrch(["service", "print", "--target", "upstart"], in: project.root)
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("systemd, launchd, nssm, schtasks"))
        let badEnv = try CommandRunner.llamaOrch(["service", "print", "--env", "NOVALUE"], in: project.root)
        #expect(badEnv.status == 64)
    }

    @Test func fromABuildFolderTheUnitRunsTheInstalledBinaryOnThePath() throws {
        let project = try TemporaryProject("service-installed")
        defer { project.remove() }
        let options = ["service", "print", "--user", "--unit-dir", project.root + "/units"]
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        // Nothing installed: the build folder's binary, with a warning that says how to install.
        let bare = try CommandRunner.llamaOrch(options, in: project.root, environment: ["PATH": "/usr/bin:/bin"])
        let built = CommandRunner.product("llama-orch")
        #expect(bare.stdout.contains("ExecStart=\(built) daemon start"), "\(bare.stdout)")
        #expect(bare.stderr.contains("inside a build folder; install llama-orch (scripts/install.sh)"), "\(bare)")
        // Installed in PREFIX/bin on the PATH: that stable path, no warning.
        let installed = try project.write("prefix/bin/llama-orch", "#!/bin/sh\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: installed)
        let unit = try CommandRunner.llamaOrch(
            options, in: project.root, environment: ["PATH": project.root + "/prefix/bin:" + path])
        #expect(unit.stdout.contains("ExecStart=\(installed) daemon start"), "\(unit.stdout)")
        #expect(unit.stderr.isEmpty, "\(unit.stderr)")
    }
}
