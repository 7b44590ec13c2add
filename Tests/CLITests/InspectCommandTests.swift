import Foundation
import GGUF
import OrchestratorCore
import TestSupport
import Testing

/// `llama-orch inspect` on every fixture and on a split model, run as the built binary.
@Suite(.serialized) struct InspectCommandTests {
    struct Result {
        let status: Int32
        let output: String
        let errors: String
    }

    /// Runs the built `llama-orch inspect`; CommandRunner drains stdout and stderr together, so a child that
    /// fills the stderr pipe can't deadlock the test.
    static func inspect(_ arguments: [String]) throws -> Result {
        let binary = CommandRunner.product("llama-orch")
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: binary + " (run swift build first)"])
        }
        let result = try CommandRunner.run(binary, ["inspect"] + arguments)
        return Result(status: result.status, output: result.stdout, errors: result.stderr)
    }

    @Test func inspectsEveryFixtureAndASplitModel() throws {
        let folder = NSTemporaryDirectory() + "inspect-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var paths: [String] = []
        for (kind, spec) in TinyModels.kinds.sorted(by: { $0.key < $1.key }) {
            let path = folder + "/\(kind).gguf"
            try TinyModels.write(spec, to: path)
            paths.append(path)
        }
        let shards = try TinyModels.writer(for: TinyModels.q8_0).writeSplit(prefix: folder + "/split", count: 3)
        paths.append(shards[1])
        for path in paths {
            let text = try Self.inspect([path])
            #expect(text.status == 0, "\(path): \(text.errors)")
            #expect(text.output.contains("architecture: llama"))
            #expect(text.output.contains("KV cache per token"))
            let json = try Self.inspect([path, "--json", "--context", "1024"])
            #expect(json.status == 0)
            let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
            let profile = object?["profile"] as? [String: Any]
            #expect((profile?["layer_count"] as? Int ?? 0) > 0)
            let estimates = object?["estimates"] as? [[String: Any]]
            #expect(estimates?.first?["context"] as? Int == 1024)
        }
        let split = try Self.inspect([shards[2]])
        #expect(split.output.contains("in 3 file(s)"))
    }

    @Test func missingAndBadFiles() throws {
        let missing = try Self.inspect(["/nonexistent/model.gguf"])
        #expect(missing.status == OrchestratorExitCode.notFound.rawValue)
        let path = NSTemporaryDirectory() + "inspect-bad-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = TinyModels.writer(for: TinyModels.dense).bytes()
        try Data(bytes.prefix(3000)).write(to: URL(fileURLWithPath: path))
        let bad = try Self.inspect([path])
        #expect(bad.status == OrchestratorExitCode.modelInvalid.rawValue)
        #expect(bad.errors.contains("at byte"))
    }
}
