import Foundation
import KubernetesExport
import OrchestratorCore
import TestSupport
import Testing

/// `llama-orch export kubernetes` through the built binary, on hardware described in a devices file.
@Suite(.serialized) struct ExportCommandTests {
    /// A project with two instances on tiny models and a node of two 2 GiB CUDA GPUs.
    struct Project {
        let project: TemporaryProject
        let devices: String

        init(_ name: String) throws {
            project = try TemporaryProject(name)
            for (kind, file) in [("large", "large.gguf"), ("dense", "dense.gguf")] {
                let result = try CommandRunner.run(
                    CommandRunner.product("make-tiny-model"),
                    ["--kind", kind, "--out", project.root + "/models/" + file])
                try #require(result.status == 0, "make-tiny-model: \(result.stderr)")
            }
            devices = try project.write(
                "node.json",
                #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 2048, "llama_name": "CUDA0"}, "#
                    + #"{"name": "B", "kind": "discrete", "total_mib": 2048, "llama_name": "CUDA1"}, "#
                    + #"{"name": "host", "kind": "cpu", "total_mib": 65536}]}"#)
            try instance("big", model: "large.gguf", port: 8201)
            try instance("small", model: "dense.gguf", port: 8202)
        }

        func instance(_ name: String, model: String, port: Int, extra: String = "") throws {
            _ = try project.writeConfig(
                name,
                #"{"name": "\#(name)", "model": {"path": "../../models/\#(model)", "context_size": 1024, "threads": 4}, "server": {"port": \#(port)}\#(extra)}"#
            )
        }

        func export(_ arguments: [String]) throws -> CommandResult {
            try CommandRunner.llamaOrch(
                ["export", "kubernetes", "--devices-file", devices] + arguments, in: project.root)
        }

        func files(_ folder: String) -> [String: String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return Dictionary(
                uniqueKeysWithValues: names.map {
                    ($0, (try? String(contentsOfFile: folder + "/" + $0, encoding: .utf8)) ?? "")
                })
        }
    }

    @Test func writesAFolderThatPassesTheSchemasAndIsTheSameTheSecondTime() throws {
        let project = try Project("k8s-cli-out")
        defer { project.project.remove() }
        let out = project.project.root + "/k8s"
        let first = try project.export(["--out", out])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("big: one-gpu → Deployment big"))
        #expect(first.stdout.contains("what doesn't map:"))
        let files = project.files(out)
        #expect(
            Set(files.keys) == [
                "kustomization.yaml", "big-deployment.yaml", "big-service.yaml", "small-deployment.yaml",
                "small-service.yaml",
            ])
        #expect(files.values.allSatisfy { $0.hasPrefix(ManifestFolder.marker + "\n") })
        #expect(files["big-deployment.yaml"]?.contains("nvidia.com/gpu: '1'") == true)
        let validated = try ExportFixtures.validate(
            files.keys.sorted().map { out + "/" + $0 }, versions: ["1.33", "1.34", "1.35", "1.36", "1.37"])
        #expect(validated.status == 0, "\(validated.stdout)")
        // The same configs give byte-identical files.
        let second = try project.export(["--out", out])
        #expect(second.status == 0)
        #expect(project.files(out) == files)
    }

    @Test func jsonReportHasSnakeCaseKeys() throws {
        let project = try Project("k8s-cli-json")
        defer { project.project.remove() }
        let result = try project.export(["--json", "--gpu-api", "dra", "--namespace", "llm"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let report = try #require(object["report"] as? [String: Any])
        #expect(report["kubernetes_version"] as? String == "1.34")
        #expect(report["gpu_api"] as? String == "dra")
        let instances = try #require(report["instances"] as? [[String: Any]])
        #expect(instances.first?["memory_request_bytes"] is NSNumber)
        #expect(instances.first?["service_host"] as? String == "big.llm.svc")
        let manifests = try #require(object["manifests"] as? [String: String])
        #expect(manifests["big-gpu-claim.yaml"]?.contains("gpu.nvidia.com") == true)
    }

    @Test func withoutOutTheManifestsGoToStandardOutputAndTheReportToStandardError() throws {
        let project = try Project("k8s-cli-stream")
        defer { project.project.remove() }
        let result = try project.export(["small"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.components(separatedBy: "---\n").count == 2)
        #expect(result.stdout.contains("kind: Service"))
        #expect(!result.stdout.contains("Kustomization"))
        #expect(result.stderr.contains("small: one-gpu"))
        let file = project.project.root + "/stream.yaml"
        try result.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let validated = try ExportFixtures.validate([file], versions: ["1.37"])
        #expect(validated.status == 0, "\(validated.stdout)")
    }

    @Test func neverOverwritesAFileItDidNotWriteWithoutForce() throws {
        let project = try Project("k8s-cli-force")
        defer { project.project.remove() }
        let out = project.project.root + "/k8s"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "# mine\nkind: Service\n".write(toFile: out + "/big-service.yaml", atomically: true, encoding: .utf8)
        let refused = try project.export(["--out", out])
        #expect(refused.status == 72, "\(refused.stderr)")
        #expect(refused.stderr.contains("big-service.yaml"))
        #expect(refused.stderr.contains("--force"))
        #expect(Set(project.files(out).keys) == ["big-service.yaml"], "nothing else was written")
        let forced = try project.export(["--out", out, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(project.files(out)["big-service.yaml"]?.hasPrefix(ManifestFolder.marker) == true)
        // A file of an earlier export that this one doesn't have is removed; another's file stays.
        try "# notes\n".write(toFile: out + "/notes.yaml", atomically: true, encoding: .utf8)
        let only = try project.export(["--out", out, "small"])
        #expect(only.status == 0, "\(only.stderr)")
        #expect(
            Set(project.files(out).keys) == [
                "kustomization.yaml", "small-deployment.yaml", "small-service.yaml", "notes.yaml",
            ])
        #expect(only.stdout.contains("removed 2 files"))
    }

    @Test func refusesWhatPlanRefusesAndWritesNothing() throws {
        let project = try Project("k8s-cli-refuse")
        defer { project.project.remove() }
        let out = project.project.root + "/k8s"
        // Fits nowhere: the same refusal as plan, exit 70.
        let tiny = try project.project.write(
            "tiny.json",
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 64, "llama_name": "CUDA0"}, {"name": "host", "kind": "cpu", "total_mib": 128}]}"#
        )
        let unplaceable = try CommandRunner.llamaOrch(
            ["export", "kubernetes", "--devices-file", tiny, "--out", out], in: project.project.root)
        #expect(unplaceable.status == 70, "\(unplaceable.stderr)")
        #expect(unplaceable.stderr.contains("big:"))
        #expect(!FileManager.default.fileExists(atPath: out))
        // An invalid config: 65, with the file and the field.
        _ = try project.project.writeConfig(
            "bad", #"{"name": "bad", "model": {"path": "../../models/dense.gguf"}, "server": {"port": 80}}"#)
        let invalid = try project.export(["--out", out])
        #expect(invalid.status == 65, "\(invalid.stderr)")
        #expect(invalid.stderr.contains("server.port"))
        #expect(!FileManager.default.fileExists(atPath: out))
        try FileManager.default.removeItem(atPath: project.project.root + "/instances/bad")
        // A model that isn't GGUF: 67.
        _ = try project.project.write("models/fake.gguf", "GGUF but not really")
        try project.instance("fake", model: "fake.gguf", port: 8203)
        let unreadable = try project.export(["--out", out, "fake"])
        #expect(unreadable.status == 67 || unreadable.status == 65, "\(unreadable.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        // Options no cluster can run: 64.
        let dra = try project.export(["--gpu-api", "dra", "--k8s-version", "1.33", "big"])
        #expect(dra.status == 64, "\(dra.stderr)")
        #expect(dra.stderr.contains("1.34"))
        let storage = try project.export(["--storage", "nfs:server", "big"])
        #expect(storage.status == 64)
        #expect(storage.stderr.contains("pvc:CLAIM"))
        let missing = try project.export(["nobody"])
        #expect(missing.status == 66)
    }
}
