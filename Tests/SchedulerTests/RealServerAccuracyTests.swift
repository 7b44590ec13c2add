import Foundation
import GGUF
import Scheduler
import TestSupport
import Testing

/// The estimator against the real llama-server: what is deterministic (weights, KV, output) within 1 %, the
/// total within 5 % on a few grid points. Fails (never skips) when no llama-server is built.
@Suite(.serialized) struct RealServerAccuracyTests {
    struct Point: Sendable, CustomTestStringConvertible {
        let fixture: String
        let context: Int
        let slots: Int
        let cacheType: String
        let flashAttention: Bool
        var testDescription: String {
            "\(fixture) -c \(context) -np \(slots) \(cacheType) fa=\(flashAttention)"
        }
    }

    static let points: [Point] = [
        Point(fixture: "dense", context: 2048, slots: 1, cacheType: "f16", flashAttention: true),
        Point(fixture: "moe", context: 1024, slots: 2, cacheType: "q8_0", flashAttention: true),
        Point(fixture: "q4_0", context: 4096, slots: 4, cacheType: "q4_0", flashAttention: true),
        Point(fixture: "tied", context: 1024, slots: 1, cacheType: "f16", flashAttention: false),
        Point(fixture: "medium", context: 4096, slots: 1, cacheType: "q8_0", flashAttention: true),
        Point(fixture: "wide-ffn", context: 2048, slots: 2, cacheType: "f16", flashAttention: true),
        Point(fixture: "large", context: 8192, slots: 4, cacheType: "f16", flashAttention: true),
    ]

    @Test(arguments: points)
    func estimateMatchesServer(point: Point) async throws {
        let spec = try #require(TinyModels.kinds[point.fixture])
        let folder = NSTemporaryDirectory() + "scheduler-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/\(point.fixture).gguf"
        try TinyModels.write(spec, to: path)
        let profile = try ModelProfile(model: GGUFModel.open(path: path))
        var parameters = ServerParameters(contextSize: point.context)
        parameters.slots = point.slots
        parameters.cacheTypeK = point.cacheType
        parameters.cacheTypeV = point.cacheType
        parameters.flashAttention = point.flashAttention
        let estimate = try MemoryEstimator(profile: profile).estimate(parameters)
        let arguments = [
            "-c", String(point.context), "-np", String(point.slots), "-ctk", point.cacheType, "-ctv", point.cacheType,
            "-fa", point.flashAttention ? "on" : "off", "-ngl", "0", "--fit", "off", "-no-kvu",
        ]
        // The first point also waits for /health 200 (with warm-up): the fixture really runs.
        let measured = try await LlamaServerProbe.measure(
            model: path, arguments: arguments + (point.fixture == "dense" ? [] : ["--no-warmup"]),
            waitForHealth: point.fixture == "dense")
        if point.fixture == "dense" { #expect(measured.healthy) }
        // llama.cpp reports cells per stream.
        #expect(measured.kvCells.first == estimate.kvCells.perStream)
        // Values are printed in MiB with two decimals: allow that rounding on top of 1 %.
        func close(_ estimate: UInt64, _ actual: UInt64, _ percent: Double) -> Bool {
            abs(Double(estimate) - Double(actual)) <= Double(actual) * percent / 100 + 0.006 * 1_048_576
        }
        let weights = ServerMeasurement.total(measured.model)
        let kv = ServerMeasurement.total(measured.kvCache)
        let output = ServerMeasurement.total(measured.output)
        #expect(close(estimate.host.weights, weights, 1), "weights \(estimate.host.weights) vs \(weights)")
        #expect(close(estimate.host.kvCache, kv, 1), "KV \(estimate.host.kvCache) vs \(kv)")
        #expect(close(estimate.host.output, output, 1), "output \(estimate.host.output) vs \(output)")
        let total = measured.total
        #expect(
            close(estimate.host.buffers, total, 5)
                || estimate.host.buffers >= total
                    && estimate.host.buffers - total < 1_048_576,
            "total \(estimate.host.buffers) vs \(total)")
    }

    @Test func missingBinaryFailsWithInstructions() {
        #expect(throws: ProbeError.self) { try LlamaServerProbe.binary(environment: ["LLAMA_SERVER": "/nonexistent"]) }
        do {
            _ = try LlamaServerProbe.binary(environment: ["LLAMA_ORCH_CACHE": "/nonexistent"])
            Issue.record("found a llama-server in an empty cache")
        } catch {
            #expect("\(error)".contains("run scripts/build-llama-server.sh"))
        }
    }
}
