import Foundation
import KubernetesExport
import TestSupport
import Testing

/// The rendered manifests of fixed instances (a CPU, a single-GPU, a split-GPU and a Vulkan instance, and two under
/// DRA) against reviewed files in Golden/<case>/, and those files against the Kubernetes schemas.
///
/// A difference fails with a diff. After a deliberate change, `LLAMA_ORCH_UPDATE_GOLDEN=1 swift test --filter
/// ManifestGoldenTests` rewrites the files (and fails, so that the run is never taken for a check): review the diff
/// as you would code.
@Suite struct ManifestGoldenTests {
    static let update = ProcessInfo.processInfo.environment["LLAMA_ORCH_UPDATE_GOLDEN"] == "1"

    @Test(arguments: ["cpu", "single-gpu", "split-gpu", "vulkan", "dra"])
    func renderedFilesMatchTheGoldenFiles(_ name: String) throws {
        let golden = try #require(try ExportFixtures.goldenCases().first { $0.name == name })
        let export = try ExportFixtures.render(golden.options, golden.build)
        let folder = ExportFixtures.goldenFolder + "/" + name
        var expectedFiles = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        expectedFiles.remove("report.json")
        if Self.update {
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for (file, contents) in export.files {
                try contents.write(toFile: folder + "/" + file, atomically: true, encoding: .utf8)
            }
            try Self.reportJSON(export.report).write(toFile: folder + "/report.json", atomically: true, encoding: .utf8)
            Issue.record("rewrote Golden/\(name); review the diff (git diff Tests/KubernetesExportTests/Golden)")
            return
        }
        #expect(expectedFiles == Set(export.files.keys), "Golden/\(name) has other files than the export")
        for (file, contents) in export.files.sorted(by: { $0.key < $1.key }) {
            let expected = (try? String(contentsOfFile: folder + "/" + file, encoding: .utf8)) ?? ""
            #expect(
                contents == expected,
                "\(name)/\(file) differs from Golden/\(name)/\(file):\n\(ExportFixtures.diff(expected, contents, label: "\(name)/\(file)"))"
            )
        }
        let report = try Self.reportJSON(export.report)
        let expectedReport = (try? String(contentsOfFile: folder + "/report.json", encoding: .utf8)) ?? ""
        #expect(
            report == expectedReport,
            "the report differs from Golden/\(name)/report.json:\n\(ExportFixtures.diff(expectedReport, report, label: "\(name)/report.json"))"
        )
    }

    /// Every golden file is a valid object of every supported Kubernetes version (DRA from 1.34), strictly.
    @Test(arguments: ["cpu", "single-gpu", "split-gpu", "vulkan", "dra"])
    func goldenFilesPassTheKubernetesSchemas(_ name: String) throws {
        let folder = ExportFixtures.goldenFolder + "/" + name
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
            .sorted()
            .map { folder + "/" + $0 }
        try #require(!files.isEmpty, "Golden/\(name) is empty")
        let versions = (name == "dra" ? 34...37 : 33...37).map { "1.\($0)" }
        let result = try ExportFixtures.validate(files, versions: versions)
        #expect(result.status == 0, "k8s_validate.py:\n\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("error"), "\(result.stdout)")
    }

    /// `kubectl kustomize` builds each golden folder, when kubectl is installed.
    @Test(arguments: ["cpu", "single-gpu", "split-gpu", "vulkan", "dra"])
    func kustomizeBuildsTheGoldenFolders(_ name: String) throws {
        guard let kubectl = try? CommandRunner.run("which", ["kubectl"]), kubectl.status == 0 else {
            print("kubectl is not installed: kustomize build of Golden/\(name) not checked")
            return
        }
        let result = try CommandRunner.run("kubectl", ["kustomize", ExportFixtures.goldenFolder + "/" + name])
        #expect(result.status == 0, "kubectl kustomize Golden/\(name): \(result.stderr)")
        #expect(result.stdout.contains("kind: Deployment"))
    }

    static func reportJSON(_ report: ExportReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }
}
