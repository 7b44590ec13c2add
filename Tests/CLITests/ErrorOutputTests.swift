import Foundation
import TestSupport
import Testing

/// How a command ends on an error: a module's error as `llama-orch: message` with its documented exit code,
/// ArgumentParser's own errors (usage, unknown flags) as ArgumentParser prints them.
@Suite struct ErrorOutputTests {
    @Test func aModulesErrorIsItsMessageAfterTheProgramNameWithItsCode() throws {
        let folder = NSTemporaryDirectory() + "no-root-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = try CommandRunner.llamaOrch(["config", "validate"], in: folder)
        #expect(result.status == 66)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("llama-orch: no project root: "), "\(result.stderr)")
        #expect(result.stderr.filter { $0 == "\n" }.count == 1 && result.stderr.hasSuffix("\n"), "\(result.stderr)")
    }

    @Test func aRootWithoutInstancesIsRefusedAndGetsNoDaemonUntilInitMakesItAProject() throws {
        let folder = NSTemporaryDirectory() + "not-a-project-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer {
            _ = try? CommandRunner.llamaOrch(["daemon", "stop", "--root", folder])
            try? FileManager.default.removeItem(atPath: folder)
        }
        for (arguments, environment) in [
            (["ps", "--root", folder], [String: String]()), (["daemon", "start", "--root", folder], [:]),
            (["ps"], ["LLAMA_ORCH_ROOT": folder]), (["devices", "--root", folder], [:]),
        ] {
            let result = try CommandRunner.llamaOrch(arguments, in: "/", environment: environment)
            #expect(result.status == 66, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("'\(folder)'"), "\(result.stderr)")
            #expect(
                result.stderr.contains("is not a llama-orch project: it has no instances/ (or state/) folder"),
                "\(result.stderr)")
            #expect(result.stderr.contains("llama-orch init NAME --model PATH --root \(folder)"), "\(result.stderr)")
        }
        // No daemon was started there: it would have made state/ (and served the router's port).
        #expect(!FileManager.default.fileExists(atPath: folder + "/state"))
        // A root whose instances/ went away after a daemon ran there (state/) is still one, to stop its daemon.
        try FileManager.default.createDirectory(atPath: folder + "/state", withIntermediateDirectories: true)
        let status = try CommandRunner.llamaOrch(["daemon", "status", "--root", folder], in: "/")
        #expect(status.status == 69 && status.stdout.contains("no daemon runs"), "\(status.stdout)\(status.stderr)")

        let model = folder + "/tiny.gguf"
        let made = try CommandRunner.run(
            CommandRunner.product("make-tiny-model"), ["--kind", "dense", "--out", model])
        try #require(made.status == 0, "\(made.stderr)")
        let initialized = try CommandRunner.llamaOrch(["init", "tiny", "--model", model, "--root", folder], in: "/")
        #expect(initialized.status == 0, "\(initialized.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder + "/instances/tiny/config.json"))
        let validated = try CommandRunner.llamaOrch(["config", "validate", "--root", folder], in: "/")
        #expect(validated.status == 0, "\(validated.stdout)\(validated.stderr)")
    }

    @Test func usageErrorsAreArgumentParsersWithCode64() throws {
        let result = try CommandRunner.llamaOrch(["ps", "--no-such-flag"])
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("Error: Unknown option '--no-such-flag'"), "\(result.stderr)")
    }
}
