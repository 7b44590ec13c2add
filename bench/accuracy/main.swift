import Foundation
import GGUF
import Scheduler
import TestSupport

// bench-accuracy [--quick] [--markdown]
//
// Writes the fixture models, runs the real llama-server (CPU, -ngl 0, --fit off, --no-warmup) over a grid of
// fixtures × context sizes × slots × cache types, reads the buffer sizes it reports and prints them beside the
// estimator's figures. Goal: total within 3 % and never under by more than 32 MiB.

struct GridPoint {
    let fixture: String
    let context: Int
    let slots: Int
    let unified: Bool
    let cacheType: String
    let flashAttention: Bool
    let ubatch: Int

    var parameters: ServerParameters {
        var parameters = ServerParameters(contextSize: context)
        parameters.slots = slots
        parameters.unifiedKV = unified
        parameters.cacheTypeK = cacheType
        parameters.cacheTypeV = cacheType
        parameters.flashAttention = flashAttention
        parameters.ubatchSize = ubatch
        return parameters
    }

    var arguments: [String] {
        [
            "-c", String(context), "-np", String(slots), "-ub", String(ubatch), "-ctk", cacheType, "-ctv", cacheType,
            "-fa", flashAttention ? "on" : "off", "-ngl", "0", "--fit", "off", "--no-warmup",
            unified ? "-kvu" : "-no-kvu",
        ]
    }
}

let quick = CommandLine.arguments.contains("--quick")
let markdown = CommandLine.arguments.contains("--markdown")
let fixtures: [(String, TinyModelSpec)] =
    quick
    ? [("dense", TinyModels.dense), ("medium", TinyModels.medium), ("large", TinyModels.large)]
    : [
        ("dense", TinyModels.dense), ("moe", TinyModels.moe), ("q8_0", TinyModels.q8_0), ("q4_0", TinyModels.q4_0),
        ("tied", TinyModels.tied), ("medium", TinyModels.medium), ("wide-embedding", TinyModels.wideEmbedding),
        ("wide-ffn", TinyModels.wideFFN), ("large", TinyModels.large), ("large-q8_0", TinyModels.largeQ8_0),
    ]
var grid: [GridPoint] = []
for (name, _) in fixtures {
    for context in quick ? [4096] : [512, 4096] {
        for slots in quick ? [1] : [1, 4] {
            for (cache, fa) in [("f16", true), ("q8_0", true), ("q4_0", true), ("f16", false)] {
                grid.append(
                    GridPoint(
                        fixture: name, context: context, slots: slots, unified: false, cacheType: cache,
                        flashAttention: fa, ubatch: 512))
            }
        }
    }
    if !quick {
        grid.append(
            GridPoint(
                fixture: name, context: 8192, slots: 4, unified: true, cacheType: "f16", flashAttention: true,
                ubatch: 512))
        grid.append(
            GridPoint(
                fixture: name, context: 2048, slots: 1, unified: false, cacheType: "f16", flashAttention: true,
                ubatch: 2048))
    }
}

func mib(_ bytes: UInt64) -> String { String(format: "%.2f", Double(bytes) / 1_048_576) }
func percent(_ estimate: UInt64, _ actual: UInt64) -> Double {
    actual == 0 ? (estimate == 0 ? 0 : 100) : (Double(estimate) - Double(actual)) / Double(actual) * 100
}

let folder = NSTemporaryDirectory() + "bench-accuracy-\(getpid())"
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }
var profiles: [String: (path: String, profile: ModelProfile)] = [:]
for (name, spec) in fixtures {
    let path = folder + "/\(name).gguf"
    try TinyModels.write(spec, to: path)
    profiles[name] = (path, try ModelProfile(model: GGUFModel.open(path: path)))
}

let header = [
    "fixture", "ctx", "np", "kvu", "ub", "cache", "fa", "weights est/act", "KV est/act", "compute est/act",
    "output est/act", "total est/act MiB", "error %", "error MiB",
]
if markdown {
    print("| " + header.joined(separator: " | ") + " |")
    print("|" + String(repeating: "---|", count: header.count))
} else {
    print(header.joined(separator: "\t"))
}
var worstPercent = 0.0
var worstUnder: Int64 = 0
var failures = 0
var rows = 0
// Points whose measured total is at least 32 MiB (the tiny fixtures' few MiB make percentages meaningless).
var largeRows = 0
var largeFailures = 0
for point in grid {
    guard let (path, profile) = profiles[point.fixture] else { continue }
    let estimate: Usage
    do {
        estimate = try MemoryEstimator(profile: profile).estimate(point.parameters).total
    } catch {
        print("skipped \(point.fixture) \(point.arguments.joined(separator: " ")): \(error)")
        continue
    }
    let actual = try await LlamaServerProbe.measure(model: path, arguments: point.arguments)
    let measured = (
        weights: ServerMeasurement.total(actual.model), kv: ServerMeasurement.total(actual.kvCache),
        compute: ServerMeasurement.total(actual.compute), output: ServerMeasurement.total(actual.output)
    )
    let total = actual.total
    let error = percent(estimate.buffers, total)
    let errorBytes = Int64(estimate.buffers) - Int64(total)
    worstPercent = max(worstPercent, abs(error))
    worstUnder = min(worstUnder, errorBytes)
    if abs(error) > 3 || errorBytes < -32 * 1_048_576 {
        failures += 1
        if total >= 32 * 1_048_576 { largeFailures += 1 }
    }
    if total >= 32 * 1_048_576 { largeRows += 1 }
    rows += 1
    let cells = [
        point.fixture, String(point.context), String(point.slots), point.unified ? "on" : "off", String(point.ubatch),
        point.cacheType, point.flashAttention ? "on" : "off",
        "\(mib(estimate.weights))/\(mib(measured.weights))", "\(mib(estimate.kvCache))/\(mib(measured.kv))",
        "\(mib(estimate.compute))/\(mib(measured.compute))", "\(mib(estimate.output))/\(mib(measured.output))",
        "\(mib(estimate.buffers))/\(mib(total))", String(format: "%+.2f", error),
        String(format: "%+.2f", Double(errorBytes) / 1_048_576),
    ]
    print(markdown ? "| " + cells.joined(separator: " | ") + " |" : cells.joined(separator: "\t"))
}
print("")
print(
    "\(rows) points; worst total error \(String(format: "%.2f", worstPercent)) %; worst under-estimate "
        + "\(String(format: "%.2f", Double(-worstUnder) / 1_048_576)) MiB; "
        + "\(failures) point(s) miss the goal (within 3 % and never under by more than 32 MiB); "
        + "of the \(largeRows) points of at least 32 MiB, \(largeFailures) miss it")
