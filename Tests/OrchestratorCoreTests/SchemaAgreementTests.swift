import Foundation
import OrchestratorCore
import TestSupport
import Testing

/// The repository checkout this test file lives in.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The JSON Schema that `llama-orch config schema` prints and the built-in validator must agree, judged by
/// an independent implementation (PyPI `jsonschema`, through scripts/jsonschema_check.py).
@Suite(.serialized) struct SchemaAgreementTests {
    /// Every config example in the repository: instances/*/config.json and the README's config blocks.
    static func repositoryExamples() throws -> [(label: String, name: String, text: String)] {
        var examples: [(String, String, String)] = [("original README example", "gpt-oss", ConfigExamples.original)]
        let instances = repositoryRoot + "/instances"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: instances)) ?? [] {
            if let data = FileManager.default.contents(atPath: "\(instances)/\(name)/config.json") {
                examples.append(("instances/\(name)", name, String(decoding: data, as: UTF8.self)))
            }
        }
        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        for (index, block) in readme.components(separatedBy: "```json\n").dropFirst().enumerated() {
            let text = block.components(separatedBy: "```").first ?? ""
            guard text.contains("\"model\""), text.contains("\"server\""),
                let range = text.range(of: #""name": "([a-z0-9._-]+)""#, options: .regularExpression)
            else { continue }
            let name = String(text[range].split(separator: "\"")[2])
            examples.append(("README block \(index + 1)", name, text))
        }
        return examples
    }

    func pythonVerdicts(schema: String, files: [String]) throws -> [String] {
        let project = try TemporaryProject("schema")
        defer { project.remove() }
        let schemaPath = try project.write("schema.json", schema)
        let result = try CommandRunner.run(
            "/usr/bin/env", ["python3", repositoryRoot + "/scripts/jsonschema_check.py", schemaPath] + files)
        try #require(result.status == 0, "jsonschema_check.py failed (pip install jsonschema): \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == files.count, "expected \(files.count) verdicts, got: \(result.stdout)")
        return lines
    }

    @Test func examplesAreValidForBoth() throws {
        let examples = try Self.repositoryExamples()
        #expect(examples.count >= 2, "expected the original example and the demo at least")
        let project = try TemporaryProject("examples")
        defer { project.remove() }
        var files: [String] = []
        for (label, name, text) in examples {
            let file = try project.writeConfig(name, text)
            files.append(file)
            // The model each example names is created where it points (any GGUF magic will do).
            let modelPath = try #require(
                try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                "\(label) is not a JSON object")
            let path = ((modelPath["model"] as? [String: Any])?["path"] as? String) ?? ""
            let resolved = resolve(path, against: project.root + "/instances/\(name)")
            if resolved.hasPrefix(project.root) {
                try project.write(
                    String(resolved.dropFirst(project.root.count + 1)), bytes: Array("GGUF".utf8) + [3, 0, 0, 0])
            }
            let recheck = ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: name)
            #expect(recheck.isValid, "\(label): \(recheck.errors)")
        }
        let schema = ConfigSchema.text(knownNames: knownNames)
        let verdicts = try pythonVerdicts(schema: schema, files: files)
        for ((label, _, _), verdict) in zip(examples, verdicts) {
            #expect(verdict == "valid", "jsonschema rejects \(label): \(verdict)")
        }
    }

    @Test func malformedConfigsAreInvalidForBothWhereASchemaCanTell() throws {
        let project = try TemporaryProject("corpus")
        defer { project.remove() }
        var files: [String] = []
        for (index, sample) in malformedConfigs.enumerated() {
            files.append(try project.write("corpus/\(index).json", bytes: sample.bytes))
        }
        let verdicts = try pythonVerdicts(schema: ConfigSchema.text(knownNames: knownNames), files: files)
        for (sample, verdict) in zip(malformedConfigs, verdicts) {
            if sample.schemaRejects {
                #expect(verdict.hasPrefix("invalid"), "jsonschema accepts '\(sample.label)', the validator refuses it")
            } else {
                #expect(verdict == "valid", "'\(sample.label)' is beyond a schema, yet jsonschema says: \(verdict)")
            }
        }
    }
}

/// The project file's schema (`config schema --project`) and `ProjectSettings.validate` agree the same way.
@Suite(.serialized) struct ProjectSchemaAgreementTests {
    /// A project file, and whether a JSON Schema can tell that it is invalid (`nil`: it is valid).
    static let samples: [(label: String, text: String, schemaRejects: Bool?)] = [
        ("empty object", "{}", nil),
        ("empty router", #"{"router": {}}"#, nil),
        (
            "every field",
            #"""
            {"$schema": "project.json", "router": {"enabled": true, "listen": "[::1]:9000",
             "api_keys": ["abcdefgh12", {"env": "ROUTER_KEY"}], "allow_unauthenticated": false, "max_body_mb": 64,
             "queue_limit": 10, "queue_timeout": 2.5, "idle_ttl": 0, "stream_idle_timeout": 30}}
            """#, nil
        ),
        ("listen as a number", #"{"router": {"listen": 8080}}"#, true),
        ("listen without a port", #"{"router": {"listen": "localhost"}}"#, true),
        ("unknown top-level key", #"{"routr": {}}"#, true),
        ("unknown router key", #"{"router": {"port": 8080}}"#, true),
        ("max_body_mb 0", #"{"router": {"max_body_mb": 0}}"#, true),
        ("queue_timeout 0", #"{"router": {"queue_timeout": 0}}"#, true),
        ("negative idle_ttl", #"{"router": {"idle_ttl": -1}}"#, true),
        ("short key", #"{"router": {"api_keys": ["short"]}}"#, true),
        ("bad variable name", #"{"router": {"api_keys": [{"env": "1KEY"}]}}"#, true),
        ("not an object", "[]", true),
        // Beyond a schema: the port's range, and an open address without keys.
        ("port over 65535", #"{"router": {"listen": "127.0.0.1:70000"}}"#, false),
        ("open address without keys", #"{"router": {"listen": "0.0.0.0:8080"}}"#, false),
    ]

    @Test func samplesGetTheSameVerdictFromBoth() throws {
        let project = try TemporaryProject("project-schema")
        defer { project.remove() }
        var files: [String] = []
        for (index, sample) in Self.samples.enumerated() {
            let file = try project.write("samples/\(index).json", sample.text)
            files.append(file)
            let report = ProjectSettings.validate(bytes: Array(sample.text.utf8), file: file)
            #expect(report.isValid == (sample.schemaRejects == nil), "\(sample.label): \(report.issues)")
        }
        let schema = try project.write("project-schema.json", ConfigSchema.text(knownNames: knownNames, project: true))
        let result = try CommandRunner.run(
            "/usr/bin/env", ["python3", repositoryRoot + "/scripts/jsonschema_check.py", schema] + files)
        try #require(result.status == 0, "jsonschema_check.py failed (pip install jsonschema): \(result.stderr)")
        let verdicts = result.stdout.split(separator: "\n").map(String.init)
        try #require(verdicts.count == files.count, "expected \(files.count) verdicts, got: \(result.stdout)")
        for (sample, verdict) in zip(Self.samples, verdicts) {
            if sample.schemaRejects == true {
                #expect(verdict.hasPrefix("invalid"), "jsonschema accepts '\(sample.label)', the validator refuses it")
            } else {
                #expect(verdict == "valid", "jsonschema says of '\(sample.label)': \(verdict)")
            }
        }
    }
}
