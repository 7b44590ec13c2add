import Foundation
import TestSupport
import Testing

/// Instance names are checked at every command that takes one, with one message, before any file, daemon or
/// route is looked at (the control API's side is in DaemonTests/JSONStyleTests); `--version` says the commit.
@Suite struct NameAndVersionTests {
    static let commands: [[String]] = [
        ["init", "../x", "--model", "models/tiny.gguf"], ["config", "validate", "../x"], ["plan", "../x"],
        ["export", "kubernetes", "../x"], ["autostart", "add", "../x"], ["autostart", "remove", "../x"],
        ["up", "../x"], ["down", "../x"], ["restart", "../x"], ["describe", "../x"], ["logs", "../x"],
        ["health", "../x"],
    ]

    @Test(arguments: commands)
    func aBadNameIsRefusedWithTheSameMessageEverywhere(arguments: [String]) throws {
        let project = try TemporaryProject("badname")
        defer { project.remove() }
        _ = try project.writeFakeModel()
        let result = try CommandRunner.llamaOrch(arguments, in: project.root)
        #expect(result.status == 64, "\(arguments): \(result.stderr)")
        #expect(
            result.stderr
                == "llama-orch: invalid instance name '../x': use 1 to 63 lowercase letters, digits, '.', '_' or "
                + "'-', starting with a letter or digit (the name of its folder under instances/, not a path)\n",
            "\(arguments)")
        #expect(!project.exists("state"), "\(arguments) started a daemon or opened the state store")
    }

    @Test func versionSaysTheCommitOfAGitCheckout() throws {
        let result = try CommandRunner.llamaOrch(["--version"])
        #expect(result.status == 0)
        let version = result.stdout.trimmingCharacters(in: .newlines)
        let pattern = #"^[0-9]+\.[0-9]+\.[0-9]+( \(commit [0-9a-f]{12}(-dirty)?\))?$"#
        #expect(version.range(of: pattern, options: .regularExpression) != nil, "\(version)")
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
        let head = try CommandRunner.run("git", ["-C", repository, "rev-parse", "--short=12", "HEAD"])
        if head.status == 0 {
            #expect(version.contains("(commit "), "built from a git checkout, so the commit is known: \(version)")
        }
    }
}
