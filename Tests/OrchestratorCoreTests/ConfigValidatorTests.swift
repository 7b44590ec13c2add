import Foundation
import OrchestratorCore
import TestSupport
import Testing

let knownNames = KnownNames(backends: ["cpu", "fallback", "static", "vulkan"])

@Suite struct ConfigValidatorTests {
    // (A time limit: a model path naming a FIFO once hung the validator.)
    @Test(.timeLimit(.minutes(1)), arguments: malformedConfigs)
    func malformedConfigNamesThePath(_ sample: MalformedConfig) throws {
        let project = try TemporaryProject("malformed")
        defer { project.remove() }
        try project.writeFakeModel()
        try project.write("models/notes.txt", "just notes")
        #expect(mkfifo(project.root + "/models/pipe.gguf", 0o600) == 0)
        let file = try project.write("instances/t/config.json", bytes: sample.bytes)
        let report = ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: "t")
        #expect(!report.isValid, "\(sample.label) was accepted")
        #expect(report.config == nil)
        let matching = report.errors.filter { $0.path == sample.path }
        #expect(!matching.isEmpty, "\(sample.label): no error at '\(sample.path)'; got \(report.errors)")
        #expect(
            matching.contains { $0.message.contains(sample.fragment) },
            "\(sample.label): expected '\(sample.fragment)' in \(matching.map(\.message))")
        #expect(matching.allSatisfy { $0.line != nil || $0.message.contains("no such file") })
    }

    @Test func corpusIsLargeEnough() {
        #expect(malformedConfigs.count >= 30)
    }

    @Test func originalExampleValidatesWithDefaults() throws {
        let project = try TemporaryProject("original")
        defer { project.remove() }
        try project.writeFakeModel("models/gpt-oss-20b-Q4_K_S.gguf")
        let file = try project.writeConfig("gpt-oss", ConfigExamples.original)
        let report = ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: "gpt-oss")
        #expect(report.errors.isEmpty, "\(report.errors)")
        let config = try report.get()
        #expect(config.model.resolvedPath == project.root + "/models/gpt-oss-20b-Q4_K_S.gguf")
        #expect(config.model.threads == 16)
        #expect(config.server.parallel == 4)
        #expect(config.gpu.deviceID == .index(1))
        #expect(config.gpu.layers == .count(30))
        #expect(config.restartPolicy.type == "on-failure")
        #expect(config.restartPolicy.maxRetries == 5)
        #expect(config.healthcheck.startPeriod == 60)
        #expect(config.healthcheck.path == "/health")
        #expect(config.model.cacheTypeK == .f16)
        #expect(config.logs.maxSizeMB == 100)
    }

    @Test func leftOutFieldsTakeTheDefaults() throws {
        let project = try TemporaryProject("defaults")
        defer { project.remove() }
        try project.writeFakeModel()
        let validator = ConfigValidator(knownNames: knownNames)
        let minimal = try validator.validate(file: project.writeConfig("t", config()), expectedName: "t").get()
        let defaults = InstanceConfig.Defaults.self
        #expect(minimal.tags == defaults.tags && minimal.autostart == defaults.autostart)
        #expect(minimal.model.contextSize == defaults.contextSize && minimal.model.batchSize == defaults.batchSize)
        #expect(minimal.model.ubatchSize == nil && minimal.model.threads == nil)
        #expect(
            minimal.model.cacheTypeV == defaults.cacheType && minimal.model.flashAttention == defaults.flashAttention)
        #expect(minimal.server.host == defaults.host && minimal.server.parallel == defaults.parallel)
        #expect(minimal.gpu == defaults.gpu && minimal.healthcheck == defaults.healthcheck)
        #expect(minimal.restartPolicy == defaults.restartPolicy && minimal.logs == defaults.logs)
        #expect(minimal.env == defaults.env && minimal.args == defaults.args && minimal.binary == defaults.binary)
        // An empty section is the same as a missing one.
        let empty = config(extra: #""gpu": {}, "healthcheck": {}, "restart_policy": {}, "logs": {}, "binary": {}"#)
        let emptySections = try validator.validate(file: project.writeConfig("t", empty), expectedName: "t").get()
        #expect(emptySections == minimal)
    }

    @Test func enabledFalseMeansNever() throws {
        let project = try TemporaryProject("never")
        defer { project.remove() }
        try project.writeFakeModel()
        let file = try project.writeConfig("t", config(extra: #""restart_policy": {"enabled": false}"#))
        let config = try ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: "t").get()
        #expect(config.restartPolicy.type == "never")
    }

    @Test func allErrorsOfAFileAreReportedAtOnce() throws {
        let project = try TemporaryProject("many")
        defer { project.remove() }
        try project.writeFakeModel()
        let file = try project.writeConfig(
            "t", config(server: #"{"port": 80, "parallel": 0}"#, extra: #""gpu": {"layers": "x"}, "bogus": 1"#))
        let report = ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: "t")
        #expect(Set(report.errors.map(\.path)) == ["server.port", "server.parallel", "gpu.layers", "bogus"])
    }

    @Test func syntaxErrorsGiveLineAndColumn() throws {
        let project = try TemporaryProject("syntax")
        defer { project.remove() }
        let file = try project.writeConfig("t", "{\n  \"name\": \"t\",\n  \"model\": {\"path\": tru}\n}")
        let report = ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: "t")
        let error = try #require(report.errors.first)
        #expect(error.line == 3)
        #expect(error.column == 21)
        #expect(error.message.contains("invalid JSON"))
    }

    @Test func duplicatePortsAcrossInstancesAreErrors() throws {
        let project = try TemporaryProject("ports")
        defer { project.remove() }
        try project.writeFakeModel()
        try project.writeConfig("a", config(name: "\"a\""))
        try project.writeConfig("b", config(name: "\"b\""))
        try project.writeConfig("c", config(name: "\"c\"", server: #"{"port": 8002}"#))
        let reports = ConfigValidator(knownNames: knownNames).validateAll(in: ProjectRoot(path: project.root))
        #expect(reports.map(\.name) == ["a", "b", "c"])
        #expect(!reports[0].isValid && !reports[1].isValid && reports[2].isValid)
        #expect(reports[0].errors.first?.path == "server.port")
        #expect(reports[0].errors.first?.message.contains("instance b") == true)
    }

    @Test func argsRepeatingManagedFlagsWarn() throws {
        let project = try TemporaryProject("args")
        defer { project.remove() }
        try project.writeFakeModel()
        let file = try project.writeConfig("t", config(extra: #""args": ["--port", "9000", "--verbose"]"#))
        let report = ConfigValidator(knownNames: knownNames).validate(file: file, expectedName: "t")
        #expect(report.isValid)
        #expect(report.warnings.map(\.path) == ["args[0]"])
    }
}
