import Foundation
import TestSupport
import Testing

/// `llama-orch autostart`: in-place edits of configs written by `init` and by hand.
@Suite(.serialized) struct AutostartCommandTests {
    func makeProject(_ name: String) throws -> TemporaryProject {
        let project = try TemporaryProject(name)
        try project.writeFakeModel()
        for (instance, port) in [("alpha", "9301"), ("beta", "9302")] {
            let result = try CommandRunner.llamaOrch(
                ["init", instance, "--model", "models/tiny.gguf", "--port", port], in: project.root)
            #expect(result.status == 0, "\(result.stderr)")
        }
        return project
    }

    @Test func aConfigThatIsNotUTF8IsRefusedAndLeftAsItIs() throws {
        let project = try makeProject("autostart-latin1")
        defer { project.remove() }
        let original = try #require(project.read("instances/alpha/config.json"))
        // A Latin-1 "é" in a tag: one byte that isn't UTF-8.
        let bytes =
            Array(original.utf8).dropLast(2) + Array(#", "tags": {"owner": "Ren"#.utf8) + [0xE9]
            + Array("\"}\n}\n".utf8)
        try project.write("instances/alpha/config.json", bytes: Array(bytes))
        let add = try CommandRunner.llamaOrch(["autostart", "add", "alpha"], in: project.root)
        #expect(add.status == 65, "\(add.stdout) \(add.stderr)")
        #expect(add.stderr.contains("instances/alpha/config.json (not changed)"), "\(add.stderr)")
        let after = try #require(FileManager.default.contents(atPath: project.root + "/instances/alpha/config.json"))
        #expect(Array(after) == Array(bytes))
    }

    @Test func addListRemoveEditsOnlyTheAutostartLine() throws {
        let project = try makeProject("autostart")
        defer { project.remove() }
        let original = try #require(project.read("instances/alpha/config.json"))
        let add = try CommandRunner.llamaOrch(["autostart", "add", "alpha"], in: project.root)
        #expect(add.status == 0, "\(add.stderr)")
        let added = try #require(project.read("instances/alpha/config.json"))
        #expect(
            added == original.replacingOccurrences(of: "{\n  \"name\"", with: "{\n  \"autostart\": true,\n  \"name\""))

        let list = try CommandRunner.llamaOrch(["autostart", "list"], in: project.root)
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout == "alpha\n")
        let json = try CommandRunner.llamaOrch(["autostart", "list", "--json"], in: project.root)
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(entries.map { $0["name"] as? String } == ["alpha"])
        #expect(entries.first?["valid"] as? Bool == true)

        let again = try CommandRunner.llamaOrch(["autostart", "add", "alpha"], in: project.root)
        #expect(again.stdout.contains("already on"))
        #expect(project.read("instances/alpha/config.json") == added)

        let remove = try CommandRunner.llamaOrch(["autostart", "remove", "alpha"], in: project.root)
        #expect(remove.status == 0, "\(remove.stderr)")
        #expect(
            project.read("instances/alpha/config.json")
                == added.replacingOccurrences(of: "\"autostart\": true", with: "\"autostart\": false"))
        #expect(try CommandRunner.llamaOrch(["autostart", "list"], in: project.root).stdout == "")
        let validate = try CommandRunner.llamaOrch(["config", "validate"], in: project.root)
        #expect(validate.status == 0, "\(validate.stdout)")
    }

    @Test func aHandWrittenValueIsReplacedWhereItIs() throws {
        let project = try makeProject("autostart-hand")
        defer { project.remove() }
        let text = """
            {"name": "beta", "model": {"path": "../../models/tiny.gguf"},
             "server": {"port": 9302},    "autostart" : false, "tags": ["x"]}

            """
        try project.writeConfig("beta", text)
        let add = try CommandRunner.llamaOrch(["autostart", "add", "beta"], in: project.root)
        #expect(add.status == 0, "\(add.stderr)")
        #expect(
            project.read("instances/beta/config.json")
                == text.replacingOccurrences(of: "\"autostart\" : false", with: "\"autostart\" : true"))
    }

    @Test func anInvalidConfigIsRefusedWithItsErrorsAndLeftAsItWas() throws {
        let project = try makeProject("autostart-invalid")
        defer { project.remove() }
        let broken =
            "{\n  \"name\": \"beta\",\n  \"server\": {\"port\": 80},\n  \"model\": {\"path\": \"nope.gguf\"}\n}\n"
        try project.writeConfig("beta", broken)
        let refused = try CommandRunner.llamaOrch(["autostart", "add", "beta"], in: project.root)
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("server.port"), "\(refused.stderr)")
        #expect(refused.stderr.contains("model.path"), "\(refused.stderr)")
        #expect(project.read("instances/beta/config.json") == broken)

        let notJSON = "{\n  \"name\": \"beta\",\n}\n"
        try project.writeConfig("beta", notJSON)
        let syntax = try CommandRunner.llamaOrch(["autostart", "add", "beta"], in: project.root)
        #expect(syntax.status == 65)
        #expect(syntax.stderr.contains("line 3"), "\(syntax.stderr)")
        #expect(project.read("instances/beta/config.json") == notJSON)

        let missing = try CommandRunner.llamaOrch(["autostart", "add", "gamma"], in: project.root)
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("alpha, beta"))
    }

    @Test func listNotesAMarkedInstanceWhoseConfigIsInvalid() throws {
        let project = try makeProject("autostart-list")
        defer { project.remove() }
        #expect(try CommandRunner.llamaOrch(["autostart", "add", "alpha", "beta"], in: project.root).status == 0)
        let text = try #require(project.read("instances/beta/config.json"))
        try project.writeConfig("beta", text.replacingOccurrences(of: "9302", with: "80"))
        let list = try CommandRunner.llamaOrch(["autostart", "list"], in: project.root)
        #expect(list.status == 0)
        #expect(list.stdout.hasPrefix("alpha\nbeta (invalid config"), "\(list.stdout)")
    }
}
