import BootService
import Foundation
import TestSupport
import Testing

/// `systemd-analyze verify` on generated units: the check systemd itself applies when it loads a unit,
/// including that ExecStart's binary exists and is executable (so the unit points at a real file here).
@Suite(.serialized) struct SystemdVerifyTests {
    static func systemdAnalyze() -> String? {
        ProcessCommandRunner.locate("systemd-analyze")
    }

    @Test(arguments: ServiceScope.allCases)
    func theGeneratedUnitVerifies(scope: ServiceScope) throws {
        try verify(scope: scope, rootName: "verify", environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"])
    }

    @Test func aUnitWithSpacesPercentAndDollarsVerifies() throws {
        try verify(scope: .system, rootName: "odd 100% $x", environment: ["NOTE": "a \"b\" 50% $HOME\\"])
    }

    /// The check has teeth: a unit whose binary is missing fails, so a passing unit really was checked.
    @Test func aUnitWhoseBinaryIsMissingFailsVerification() throws {
        guard let analyze = Self.systemdAnalyze() else {
            Issue.record("systemd-analyze is not installed: install the systemd package (apt-get install systemd)")
            return
        }
        let project = try TemporaryProject("verify-missing")
        defer { project.remove() }
        let definition = ServiceDefinition(binary: project.root + "/bin/no-such-llama-orch", root: project.root)
        let unit = try project.write(
            "units/llama-orch.service", try ServiceUnit.render(target: .systemd, scope: .system, definition: definition)
        )
        let result = try CommandRunner.run(analyze, ["verify", unit])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no-such-llama-orch"), "\(result.stderr)")
    }

    private func verify(scope: ServiceScope, rootName: String, environment: [String: String]) throws {
        guard let analyze = Self.systemdAnalyze() else {
            Issue.record(
                "systemd-analyze is not installed: install the systemd package (apt-get install systemd) to run this test"
            )
            return
        }
        let project = try TemporaryProject("verify")
        defer { project.remove() }
        let root = project.root + "/" + rootName
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        // ExecStart must name an executable that exists.
        let binary = try project.write("bin/llama-orch", "#!/bin/sh\nexit 0\n")
        chmod(binary, 0o755)
        let definition = ServiceDefinition(
            binary: binary, root: root, environment: environment, user: scope == .system ? "root" : nil)
        let unit = try project.write(
            "units/llama-orch.service", try ServiceUnit.render(target: .systemd, scope: scope, definition: definition))
        var arguments = ["verify", unit]
        var variables: [String: String] = [:]
        if scope == .user {
            arguments.insert("--user", at: 0)
            // The user manager needs a runtime folder, which a test machine without a login session lacks.
            let runtime = project.root + "/runtime"
            try FileManager.default.createDirectory(
                atPath: runtime, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            variables["XDG_RUNTIME_DIR"] = runtime
        }
        let result = try CommandRunner.run(analyze, arguments, environment: variables)
        #expect(
            result.status == 0, "systemd-analyze \(arguments.joined(separator: " ")):\n\(result.stdout)\(result.stderr)"
        )
        #expect(!result.stderr.contains(unit), "warnings about the unit:\n\(result.stderr)")
    }
}
