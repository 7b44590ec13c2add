import ControlAPI
import Foundation
import OrchestratorCore
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The real llama-server (`LLAMA_SERVER`, else the build script's cache) on the tiny `dense` model, end to end
/// through the daemon.
@Suite(.serialized) struct RealServerDaemonTests {
    @Test(.timeLimit(.minutes(3))) func upAnswersACompletionAndDownLeavesNothing() async throws {
        let server = try LlamaServerProbe.binary()
        let harness = try DaemonHarness("daemon-real")
        defer { harness.cleanUp() }
        let port = try LlamaServerProbe.freePort()
        try harness.project.writeConfig(
            "tiny",
            """
            {"name": "tiny", "model": {"path": "../../models/dense.gguf", "context_size": 512},
             "server": {"port": \(port)}, "gpu": {"backend": "cpu"},
             "healthcheck": {"interval": 0.2, "timeout": 2, "retries": 3, "start_period": 60}}
            """)
        let environment = ["LLAMA_SERVER": server]
        let up = try harness.ok(["up", "tiny", "--wait", "--timeout", "120"], environment: environment)
        #expect(up.stdout.contains("tiny: healthy after"), "\(up.stdout) \(up.stderr)")

        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)/completion")))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"prompt": "a", "n_predict": 2}"#.utf8)
        let (body, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let answer = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(answer["content"] is String, "\(answer)")

        let listed = try #require(try harness.ps().first { $0.name == "tiny" })
        #expect(listed.state == .healthy)
        let pid = try #require(listed.pid)
        #expect(harness.markedProcesses().contains(pid))
        let describe = try harness.ok(["describe", "tiny", "--json"]).stdout
        #expect(describe.contains(server), "the exact command names the binary")

        try harness.ok(["down", "tiny"])
        #expect(harness.markedProcesses().isEmpty, "no process with the run marker is left")
        #expect(!DaemonHarness.isAlive(pid))
    }

    /// A real client nobody here wrote (PyPI `openai`) against the router and the real llama-server: it lists the
    /// models and streams a chat completion from an instance that was not running.
    @Test(.timeLimit(.minutes(3))) func theOpenAIPythonClientListsModelsAndStreamsFromAColdInstance() async throws {
        let server = try LlamaServerProbe.binary()
        let harness = try DaemonHarness("router-openai")
        defer { harness.cleanUp() }
        try harness.project.writeConfig(
            "tiny",
            """
            {"name": "tiny", "model": {"path": "../../models/dense.gguf", "context_size": 512},
             "server": {"port": \(try LlamaServerProbe.freePort())}, "gpu": {"backend": "cpu"},
             "healthcheck": {"interval": 0.2, "timeout": 2, "retries": 3, "start_period": 60},
             "router": {"aliases": ["tiny-chat"]}}
            """)
        try harness.ok(["daemon", "start"], environment: ["LLAMA_SERVER": server])
        #expect(try harness.ps().first { $0.name == "tiny" }?.state == .stopped, "tiny runs before any request")
        let script =
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path + "/scripts/openai_client_check.py"
        let result = try CommandRunner.run("/usr/bin/env", ["python3", script, harness.project.routerURL, "tiny-chat"])
        try #require(result.status == 0, "the openai client failed (scripts/setup.sh installs it): \(result.stderr)")
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect((summary["models"] as? [String])?.contains("tiny") == true, "\(summary)")
        // A stream: the role chunk, then each content piece its own event; the finish reason comes in a chunk of its
        // own or with the last piece (llama-server sends held-back bytes of an unfinished UTF-8 character with it).
        // The script asks for `ignore_eos`: the tiny model's random sampling may otherwise end before any piece.
        let pieces = summary["pieces"] as? Int ?? 0
        #expect(pieces >= 1, "\(summary)")
        #expect((summary["events"] as? Int ?? 0) >= pieces + 1, "\(summary)")
        #expect(["length", "stop"].contains(summary["finish_reason"] as? String), "\(summary)")
        let listed = try #require(try harness.ps().first { $0.name == "tiny" })
        #expect(listed.state == .healthy && listed.router?.startedByRouter == true, "\(listed)")

        // HEAD through `/upstream/`: its answer has a length and no body, and the next answer on the connection is
        // read whole (a relay that took HEAD's answer to have a body would read the next one as that body).
        let answers = try RouterDaemonTests.exchange(
            Array(
                ("HEAD /upstream/tiny/health HTTP/1.1\r\nHost: localhost\r\n\r\n"
                    + "GET /upstream/tiny/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").utf8),
            port: harness.project.routerPort)
        #expect(answers.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 3, "\(answers)")
        #expect(answers.components(separatedBy: #"{"status":"ok"}"#).count == 2, "\(answers)")
        #expect(answers.hasSuffix(#"{"status":"ok"}"#), "\(answers)")

        // llama-server allows every origin (with credentials); the router's policy replaces that: an allowed page
        // gets the router's field alone.
        let page = try RouterDaemonTests.exchange(
            Array(
                ("GET /upstream/tiny/health HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:5173\r\n"
                    + "Connection: close\r\n\r\n").utf8), port: harness.project.routerPort)
        let fields = page.lowercased().components(separatedBy: "\r\n").filter { $0.hasPrefix("access-control-") }
        #expect(
            page.hasPrefix("HTTP/1.1 200") && fields == ["access-control-allow-origin: http://localhost:5173"],
            "\(page)")
    }
}
