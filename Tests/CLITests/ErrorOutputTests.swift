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

    @Test func usageErrorsAreArgumentParsersWithCode64() throws {
        let result = try CommandRunner.llamaOrch(["ps", "--no-such-flag"])
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("Error: Unknown option '--no-such-flag'"), "\(result.stderr)")
    }
}
