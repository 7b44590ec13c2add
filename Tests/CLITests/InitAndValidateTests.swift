import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct InitAndValidateTests {
    @Test func initThenValidateRoundTrips() throws {
        let project = try TemporaryProject("init")
        defer { project.remove() }
        try project.writeFakeModel()
        let initResult = try CommandRunner.llamaOrch(
            ["init", "tiny", "--model", "models/tiny.gguf", "--context", "2048", "--parallel", "2"], in: project.root)
        #expect(initResult.status == 0, "\(initResult.stderr)")
        let text = try #require(project.read("instances/tiny/config.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect((json["model"] as? [String: Any])?["path"] as? String == "../../models/tiny.gguf")
        #expect((json["model"] as? [String: Any])?["context_size"] as? Int == 2048)
        #expect((json["server"] as? [String: Any])?["parallel"] as? Int == 2)
        let validate = try CommandRunner.llamaOrch(["config", "validate", "--json"], in: project.root + "/instances")
        #expect(validate.status == 0, "\(validate.stdout)\(validate.stderr)")
        let reports = try #require(
            try JSONSerialization.jsonObject(with: Data(validate.stdout.utf8)) as? [[String: Any]])
        // The project's llama-orch.json (TemporaryProject writes one), then the instance.
        #expect(reports.map { $0["kind"] as? String } == ["project", "instance"], "\(validate.stdout)")
        #expect(reports.allSatisfy { $0["valid"] as? Bool == true })
    }

    @Test func initNeverOverwritesWithoutForce() throws {
        let project = try TemporaryProject("force")
        defer { project.remove() }
        try project.writeFakeModel()
        #expect(
            try CommandRunner.llamaOrch(["init", "a", "--model", "models/tiny.gguf"], in: project.root).status == 0)
        let before = project.read("instances/a/config.json")
        let again = try CommandRunner.llamaOrch(
            ["init", "a", "--model", "models/tiny.gguf", "--port", "9100"], in: project.root)
        #expect(again.status == 72)
        #expect(again.stderr.contains("--force"))
        #expect(project.read("instances/a/config.json") == before)
        let forced = try CommandRunner.llamaOrch(
            ["init", "a", "--model", "models/tiny.gguf", "--port", "9100", "--force"], in: project.root)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(project.read("instances/a/config.json")?.contains("9100") == true)
    }

    @Test func initPicksTheLowestPortNoInstanceUsesAndNothingListensOn() throws {
        let project = try TemporaryProject("ports")
        defer { project.remove() }
        try project.writeFakeModel()
        // Find two consecutive free ports from 8001 up, as init would, then occupy them: one by an instance,
        // one by a listening socket.
        #expect(
            try CommandRunner.llamaOrch(["init", "first", "--model", "models/tiny.gguf"], in: project.root).status == 0)
        let firstPort = try port(of: "first", in: project)
        let listener = try listen(on: firstPort + 1)
        defer { close(listener) }
        let second = try CommandRunner.llamaOrch(["init", "second", "--model", "models/tiny.gguf"], in: project.root)
        #expect(second.status == 0, "\(second.stderr)")
        let secondPort = try port(of: "second", in: project)
        #expect(secondPort > firstPort + 1, "port \(firstPort + 1) is listened on, yet init chose \(secondPort)")
        let clash = try CommandRunner.llamaOrch(
            ["init", "third", "--model", "models/tiny.gguf", "--port", String(firstPort)], in: project.root)
        #expect(clash.status == 65)
        #expect(clash.stderr.contains("instance 'first'"))
        #expect(!project.exists("instances/third/config.json"))
    }

    @Test func initRefusesBadInputAndWritesNothing() throws {
        let project = try TemporaryProject("badinit")
        defer { project.remove() }
        try project.write("models/notes.txt", "hello")
        let notGGUF = try CommandRunner.llamaOrch(["init", "x", "--model", "models/notes.txt"], in: project.root)
        #expect(notGGUF.status == 65)
        #expect(notGGUF.stderr.contains("model.path"))
        #expect(!project.exists("instances/x"))
        let missing = try CommandRunner.llamaOrch(["init", "x", "--model", "models/none.gguf"], in: project.root)
        #expect(missing.status == 66, "a model that does not exist: \(missing.stderr)")
        #expect(missing.stderr.contains("models/none.gguf"))
        #expect(!project.exists("instances/x"))
        let badName = try CommandRunner.llamaOrch(["init", "../evil", "--model", "models/notes.txt"], in: project.root)
        #expect(badName.status == 64)
        #expect(badName.stderr.contains("invalid instance name"))
        let badBackend = try CommandRunner.llamaOrch(
            ["init", "y", "--model", "models/notes.txt", "--backend", "cuda-magic"], in: project.root)
        #expect(badBackend.status == 68)
        #expect(badBackend.stderr.contains("known:"))
        // A port no socket can have: the validator's message, not a crash.
        try project.writeFakeModel()
        for port in ["80801", "-1", "80"] {
            let badPort = try CommandRunner.llamaOrch(
                ["init", "z", "--model", "models/tiny.gguf", "--port=\(port)"], in: project.root)
            #expect(badPort.status == 65, "\(port): \(badPort.stderr)")
            #expect(
                badPort.stderr.contains("--port \(port): expected an integer from 1024 to 65535"), "\(badPort.stderr)")
            #expect(!project.exists("instances/z"))
        }
    }

    @Test func timeoutsThatAreNotASpanOfSecondsAreUsageErrors() throws {
        let project = try TemporaryProject("timeouts")
        defer { project.remove() }
        for arguments in [
            ["down", "x", "--timeout", "inf"], ["down", "x", "--timeout", "nan"], ["up", "x", "--timeout", "1e30"],
            ["up", "x", "--timeout=-5"], ["daemon", "stop", "--timeout", "0"],
        ] {
            let result = try CommandRunner.llamaOrch(arguments, in: project.root)
            #expect(result.status == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("--timeout takes seconds above 0 and at most 86400"), "\(result.stderr)")
        }
        // Commands that go through the daemon don't take the options of the driver commands.
        let backend = try CommandRunner.llamaOrch(["up", "x", "--backend", "cpu"], in: project.root)
        #expect(backend.status == 64)
        #expect(backend.stderr.contains("--backend"), "\(backend.stderr)")
        #expect(!project.exists("state"), "nothing started")
    }

    @Test func validateExitCodesAndRootDiscovery() throws {
        let project = try TemporaryProject("validate")
        defer { project.remove() }
        try project.writeFakeModel()
        try project.writeConfig(
            "good", #"{"name": "good", "model": {"path": "../../models/tiny.gguf"}, "server": {"port": 8001}}"#)
        try project.writeConfig(
            "bad", #"{"name": "bad", "model": {"path": "../../models/tiny.gguf"}, "server": {"port": 80}}"#)
        let all = try CommandRunner.llamaOrch(["config", "validate"], in: project.root + "/models")
        #expect(all.status == 65)
        #expect(all.stdout.contains("instances/bad/config.json: 1 error"))
        #expect(all.stdout.contains("server.port (line 1, column"))
        #expect(all.stdout.contains("instances/good/config.json: valid"))
        let good = try CommandRunner.llamaOrch(
            ["config", "validate", "good"], in: "/", environment: ["LLAMA_ORCH_ROOT": project.root])
        #expect(good.status == 0, "\(good.stderr)")
        let missing = try CommandRunner.llamaOrch(["config", "validate", "nope", "--root", project.root], in: "/")
        #expect(missing.status == 66)
        let noRoot = try CommandRunner.llamaOrch(["config", "validate"], in: "/")
        #expect(noRoot.status == 66)
        #expect(noRoot.stderr.contains("instances/"))
    }

    @Test func theProjectFileIsCheckedWithEverythingOrAloneAndItsKeysAreNotPrinted() throws {
        let project = try TemporaryProject("validate-project")
        defer { project.remove() }
        try project.writeFakeModel()
        try project.writeConfig(
            "good", #"{"name": "good", "model": {"path": "../../models/tiny.gguf"}, "server": {"port": 8001}}"#)
        try project.write(
            "llama-orch.json", #"{"router": {"listen": "0.0.0.0:8080",\#n "max_body_mb": 0, "queu_limit": 3}}"#)
        // Everything: the project file's errors with their paths and lines, exit 65 though the instance is valid.
        let all = try CommandRunner.llamaOrch(["config", "validate"], in: project.root)
        #expect(all.status == 65, "\(all.stdout)\(all.stderr)")
        #expect(all.stdout.contains("llama-orch.json: 2 errors"), "\(all.stdout)")
        #expect(all.stdout.contains("router.max_body_mb (line 2, column"), "\(all.stdout)")
        #expect(all.stdout.contains(#"unknown key "queu_limit"; did you mean "queue_limit"?"#), "\(all.stdout)")
        #expect(all.stdout.contains("instances/good/config.json: valid"), "\(all.stdout)")
        // A named instance alone leaves the project file out.
        let named = try CommandRunner.llamaOrch(["config", "validate", "good"], in: project.root)
        #expect(named.status == 0, "\(named.stdout)\(named.stderr)")
        #expect(!named.stdout.contains("llama-orch.json"), "\(named.stdout)")
        // Beyond the shape: an open address without keys.
        try project.write("llama-orch.json", #"{"router": {"listen": "0.0.0.0:8080"}}"#)
        let open = try CommandRunner.llamaOrch(["config", "validate", "--project"], in: project.root)
        #expect(open.status == 65, "\(open.stdout)\(open.stderr)")
        #expect(open.stdout.contains("router.listen"), "\(open.stdout)")
        #expect(open.stdout.contains("allow_unauthenticated"), "\(open.stdout)")
        #expect(!open.stdout.contains("instances/good"), "\(open.stdout)")
        // Valid, as JSON: the settings with defaults filled in, a written key redacted, a variable's name kept.
        try project.write(
            "llama-orch.json", #"{"router": {"listen": "0.0.0.0:8080", "api_keys": ["s3cret-key-1", {"env": "K"}]}}"#)
        let valid = try CommandRunner.llamaOrch(["config", "validate", "--project", "--json"], in: project.root)
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        #expect(!valid.stdout.contains("s3cret-key-1"), "a key written in the file is printed: \(valid.stdout)")
        let reports = try #require(
            try JSONSerialization.jsonObject(with: Data(valid.stdout.utf8)) as? [[String: Any]])
        let router = try #require(((reports.first?["settings"] as? [String: Any])?["router"]) as? [String: Any])
        #expect(router["queue_limit"] as? Int == 512)
        #expect((router["api_keys"] as? [Any])?.count == 2)
        #expect(valid.stdout.contains(#""env" : "K""#), "\(valid.stdout)")
        // No file: valid, every default applies.
        try FileManager.default.removeItem(atPath: project.root + "/llama-orch.json")
        let none = try CommandRunner.llamaOrch(["config", "validate", "--project"], in: project.root)
        #expect(none.status == 0, "\(none.stdout)\(none.stderr)")
        #expect(none.stdout.contains("no such file; every default applies"), "\(none.stdout)")
        let both = try CommandRunner.llamaOrch(["config", "validate", "--project", "good"], in: project.root)
        #expect(both.status == 64, "\(both.stdout)\(both.stderr)")
    }

    @Test func theOriginalExampleValidatesAndAMissingDeviceIsOnlyAWarning() throws {
        let project = try TemporaryProject("original-cli")
        defer { project.remove() }
        try project.writeFakeModel("models/gpt-oss-20b-Q4_K_S.gguf")
        try project.writeConfig("gpt-oss", ConfigExamples.original)
        let result = try CommandRunner.llamaOrch(["config", "validate"], in: project.root)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("instances/gpt-oss/config.json: valid (1 warning)"), "\(result.stdout)")
        #expect(result.stdout.contains("warning: gpu.device_id"))
        #expect(result.stdout.contains("device '1' is not on this machine"))
    }

    @Test func schemaIsJSONAndVersionAnswers() throws {
        let schema = try CommandRunner.llamaOrch(["config", "schema"])
        #expect(schema.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(schema.stdout.utf8)) as? [String: Any])
        #expect((json["required"] as? [String])?.sorted() == ["model", "name", "server"])
        let projectSchema = try CommandRunner.llamaOrch(["config", "schema", "--project"])
        #expect(projectSchema.status == 0)
        let project = try #require(
            try JSONSerialization.jsonObject(with: Data(projectSchema.stdout.utf8)) as? [String: Any])
        let properties = try #require(project["properties"] as? [String: Any])
        #expect(Set(properties.keys) == ["$schema", "router"], "\(projectSchema.stdout)")
        let version = try CommandRunner.llamaOrch(["--version"])
        #expect(version.status == 0)
        #expect(!version.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        let unknown = try CommandRunner.llamaOrch(["no-such-command"])
        #expect(unknown.status == 64)
    }

    private func port(of name: String, in project: TemporaryProject) throws -> Int {
        let text = try #require(project.read("instances/\(name)/config.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return try #require((json["server"] as? [String: Any])?["port"] as? Int)
    }

    private func listen(on port: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_LOOPBACK.bigEndian)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0 && Glibc.listen(descriptor, 1) == 0, "could not listen on \(port)")
        return descriptor
    }
}
