import Foundation
import TestSupport
import Testing

/// One JSON style for every `--json` output and the control API's answers (README, "JSON output"): each document
/// is walked for keys that are not snake_case and strings that hold JSON, and its shape is compared with
/// `Golden/json-shapes.txt` (rewrite that file with `LLAMA_ORCH_UPDATE_GOLDEN=1` after a deliberate change, and
/// review its diff).
@Suite(.serialized) struct JSONStyleTests {
    /// Maps whose keys are data: instance names (dashboard `events`), KV cache types (inspect `kv_bytes_per_token`).
    static let dataKeys: Set<String> = ["events", "kv_bytes_per_token"]
    /// Maps whose keys are checked but not pinned: the facts of an event or a device (`details`), which differ
    /// from one event or driver to the next.
    static let unpinnedKeys: Set<String> = ["details"]

    /// One document: what produced it and its text.
    struct Output {
        var label: String
        var text: String
    }

    @Test func everyJSONOutputAndAPIAnswerIsSnakeCaseWithObjectsNestedAsObjects() async throws {
        let harness = try DaemonHarness("json-style")
        defer { harness.cleanUp() }
        let root = harness.root
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        var outputs: [Output] = []
        func json(_ label: String, _ arguments: [String], root withRoot: Bool = true) throws {
            let result = try CommandRunner.llamaOrch(arguments + (withRoot ? ["--root", root] : []), in: root)
            outputs.append(Output(label: label, text: result.stdout))
        }

        // Without a daemon.
        try json("init --json", ["init", "beta", "--model", "models/dense.gguf", "--backend", "cpu", "--json"])
        try json("config validate --json", ["config", "validate", "--json"])
        try json("inspect --json", ["inspect", "models/dense.gguf", "--json"], root: false)
        try json("plan --json", ["plan", "alpha", "--json"])
        try json("drivers --json", ["drivers", "--json"])
        try json("devices --json", ["devices", "--backend", "cpu", "--json"])
        try harness.ok(["autostart", "add", "alpha"])
        try json("autostart list --json", ["autostart", "list", "--json"])
        let units = ["--user", "--unit-dir", root + "/units"]
        try harness.ok(["service", "install"] + units)
        try json("service status --json", ["service", "status", "--json"] + units)
        try json("export kubernetes --json", ["export", "kubernetes", "alpha", "--out", root + "/k8s", "--json"])
        try json("dashboard --once --json (no daemon)", ["dashboard", "--once", "--json"])
        try json("daemon status --json (stopped)", ["daemon", "status", "--json"])

        // Through the daemon.
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        try json("ps --json", ["ps", "--json"])
        try json("ps -a --json", ["ps", "-a", "--json"])
        try json("health --json", ["health", "alpha", "--json"])
        try json("describe --json", ["describe", "alpha", "--json"])
        try json("daemon status --json", ["daemon", "status", "--json"])
        try json("dashboard --once --json", ["dashboard", "--once", "--json"])

        // The control API, as curl sees it.
        let socket = root + "/state/daemon.sock"
        func api(_ label: String, _ path: String, post body: String? = nil) throws -> CommandResult {
            let post = body.map { ["-X", "POST", "-H", "Content-Type: application/json", "-d", $0] } ?? []
            let result = try CommandRunner.run(
                "curl", ["-sS", "--unix-socket", socket] + post + ["http://localhost" + path])
            outputs.append(Output(label: label, text: result.stdout))
            return result
        }
        _ = try api("GET /v1/daemon", "/v1/daemon")
        _ = try api("GET /v1/instances?all=1", "/v1/instances?all=1")
        _ = try api("GET /v1/instances/alpha", "/v1/instances/alpha")
        _ = try api("GET /v1/instances/nope", "/v1/instances/nope")
        // Optional request fields default: no "all" (here), no "keep_instances" (at the end).
        let up = try api("POST /v1/up", "/v1/up", post: #"{"names": ["alpha"]}"#)
        #expect(up.stdout.contains(#""name" : "alpha""#), "\(up.stdout)")
        let bad = try api("POST /v1/up (bad name)", "/v1/up", post: #"{"names": ["../x"]}"#)
        #expect(bad.stdout.contains("invalid instance name '../x'"), "\(bad.stdout)")
        let noRoute = try api("GET /v1/nowhere", "/v1/nowhere")
        #expect(noRoute.stdout.contains("no route GET /v1/nowhere"), "\(noRoute.stdout)")
        _ = try api("POST /v1/down", "/v1/down", post: #"{"names": ["alpha"]}"#)
        let stop = try api("POST /v1/daemon/stop", "/v1/daemon/stop", post: "{}")
        #expect(stop.stdout.contains(#""stopping" : true"#), "\(stop.stdout)")

        var problems: [String] = []
        var shapes: [String] = []
        for output in outputs {
            let found = JSONStyle.violations(in: output.text, dataKeys: Self.dataKeys)
            problems += found.map { "\(output.label): \($0)" }
            if found.isEmpty {
                let shape = try JSONStyle.shape(of: output.text, dataKeys: Self.dataKeys.union(Self.unpinnedKeys))
                shapes += shape.map { "\(output.label) | \($0)" }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        try Self.compareWithGolden(shapes.joined(separator: "\n") + "\n")
    }

    /// Compares with `Golden/json-shapes.txt`, or writes it when `LLAMA_ORCH_UPDATE_GOLDEN` is set.
    static func compareWithGolden(_ shapes: String) throws {
        let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/json-shapes.txt")
        if ProcessInfo.processInfo.environment["LLAMA_ORCH_UPDATE_GOLDEN"] != nil {
            try FileManager.default.createDirectory(
                at: golden.deletingLastPathComponent(), withIntermediateDirectories: true)
            try shapes.write(to: golden, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        let missing = Set(expected.split(separator: "\n")).subtracting(shapes.split(separator: "\n"))
        let added = Set(shapes.split(separator: "\n")).subtracting(expected.split(separator: "\n"))
        #expect(
            missing.isEmpty && added.isEmpty,
            """
            the JSON shapes changed (LLAMA_ORCH_UPDATE_GOLDEN=1 rewrites Golden/json-shapes.txt):
            gone: \(missing.sorted().joined(separator: "\n      "))
            new: \(added.sorted().joined(separator: "\n     "))
            """)
    }
}
