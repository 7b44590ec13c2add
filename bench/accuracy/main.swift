import Drivers
import Foundation
import GGUF
import OrchestratorCore
import Scheduler
import TestSupport

// bench-accuracy [--quick] [--scale] [--markdown]
//
// Writes fixture models, runs the real llama-server over a grid, reads the buffer sizes it reports per device and
// prints them beside the estimator's figures. Goal: total and per-device error within 3 %, and never under by more
// than 32 MiB on any device.
//
// - the calibration grid (default): the small fixtures on the CPU (newer build): 10 fixtures × context × slots ×
//   cache types (180 points; --quick: 12);
// - --scale: the realistic fixtures (8B, 3B tied, 1.5B GQA K-quant, MoE): on the CPU with the newer build, and
//   with partial offloads on Mesa's lavapipe through both Vulkan builds (both -ngl meanings), with and without op
//   offload. --quick --scale: the four points of the estimator issue. The Vulkan builds come from
//   scripts/build-llama-server.sh (--vulkan, --old --vulkan); a missing one is an error naming the command.

let quick = CommandLine.arguments.contains("--quick")
let scale = CommandLine.arguments.contains("--scale")
let markdown = CommandLine.arguments.contains("--markdown")

let cpu = try AccuracyBuild.cpu()
var grid: [AccuracyPoint] = []
var fixtures: [(String, TinyModelSpec)] = []
if scale {
    let vulkanNew = try AccuracyBuild.vulkan(legacy: false)
    let vulkanOld = try AccuracyBuild.vulkan(legacy: true)
    fixtures = quick ? [("llama-8b", TinyModels.llama8B)] : TinyModels.realistic
    for (name, _) in fixtures {
        // The CPU points of the issue's case 1, on every fixture.
        let cpuPoints: [(Int, Int, String)] =
            quick ? [(8192, 1, "f16")] : [(8192, 1, "f16"), (32768, 4, "f16"), (16384, 2, "q8_0")]
        for (context, slots, cache) in cpuPoints {
            grid.append(
                AccuracyPoint(
                    build: cpu, fixture: name, context: context, slots: slots, cacheType: cache, flashAttention: true))
        }
        // Partial offloads that fit lavapipe's 2 GiB heap, in the estimator's terms (last N layers: for the newer
        // build N = output + N-1 blocks, for the older one N blocks and the output stays on the host).
        let offloads: [(Int, Int, String)] = quick ? [(4096, 2, "f16")] : [(4096, 2, "f16"), (8192, 1, "q8_0")]
        // --quick: the issue's Vulkan cases (-ngl 4 at 4096/2 on the older build, -ngl 8 at 8192/1 on the newer).
        for build in [vulkanOld, vulkanNew] {
            for blocks in quick ? [build.legacy ? 4 : 8] : [4, 8, 12] {
                for (context, slots, cache) in quick ? [build.legacy ? (4096, 2, "f16") : (8192, 1, "f16")] : offloads {
                    var point = AccuracyPoint(
                        build: build, fixture: name, context: context, slots: slots, cacheType: cache,
                        flashAttention: true)
                    // -ngl blocks on either build: the older one counts blocks (the estimator counts the output too).
                    point.gpuLayers = build.legacy ? blocks + 1 : blocks
                    grid.append(point)
                }
            }
            // Op offload off, on the first offload point: the trade it makes, measured.
            if quick { continue }
            var without = AccuracyPoint(
                build: build, fixture: name, context: 4096, slots: 2, cacheType: "f16", flashAttention: true)
            without.gpuLayers = build.legacy ? 5 : 4
            without.opOffload = false
            grid.append(without)
        }
    }
} else {
    fixtures =
        quick
        ? [("dense", TinyModels.dense), ("medium", TinyModels.medium), ("large", TinyModels.large)]
        : [
            ("dense", TinyModels.dense), ("moe", TinyModels.moe), ("q8_0", TinyModels.q8_0),
            ("q4_0", TinyModels.q4_0), ("tied", TinyModels.tied), ("medium", TinyModels.medium),
            ("wide-embedding", TinyModels.wideEmbedding), ("wide-ffn", TinyModels.wideFFN),
            ("large", TinyModels.large), ("large-q8_0", TinyModels.largeQ8_0),
        ]
    for (name, _) in fixtures {
        for context in quick ? [4096] : [512, 4096] {
            for slots in quick ? [1] : [1, 4] {
                for (cache, fa) in [("f16", true), ("q8_0", true), ("q4_0", true), ("f16", false)] {
                    grid.append(
                        AccuracyPoint(
                            build: cpu, fixture: name, context: context, slots: slots, cacheType: cache,
                            flashAttention: fa))
                }
            }
        }
        if !quick {
            var unified = AccuracyPoint(
                build: cpu, fixture: name, context: 8192, slots: 4, cacheType: "f16", flashAttention: true)
            unified.unified = true
            grid.append(unified)
            var wide = AccuracyPoint(
                build: cpu, fixture: name, context: 2048, slots: 1, cacheType: "f16", flashAttention: true)
            wide.ubatch = 2048
            grid.append(wide)
        }
    }
}

let limit =
    grid.contains { $0.build.vulkan } ? try await AccuracyBuild.lavapipeMaxTensorBytes(llamaServer: cpu.binary) : nil

func label(_ point: AccuracyPoint) -> String { point.columns.joined(separator: markdown ? " | " : "\t") }
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
    "build", "fixture", "ctx", "np", "kvu", "ub", "cache", "fa", "gpu layers", "op offload", "host est/act MiB",
    "host error %", "GPU est/act MiB", "GPU error %", "GPU compute est/act", "total est/act MiB", "error %",
    "error MiB",
]
if markdown {
    print("| " + header.joined(separator: " | ") + " |")
    print("|" + String(repeating: "---|", count: header.count))
} else {
    print(header.joined(separator: "\t"))
}
var worstPercent = 0.0
var worstUnder: Int64 = 0
var failures: [String] = []
var rows = 0
for point in grid {
    guard let (path, profile) = profiles[point.fixture] else { continue }
    let estimate: MemoryEstimate
    do {
        estimate = try MemoryEstimator(profile: profile).estimate(point.parameters(maxTensorBytes: limit))
    } catch {
        print("skipped \(label(point)): \(error)")
        continue
    }
    let actual = try await point.measure(model: path)
    let gpuEstimate = estimate.perDevice.first?.usage ?? .zero
    let places: [(name: String, estimate: UInt64, actual: UInt64)] =
        [("host", estimate.host.buffers, actual.total(device: nil))]
        + (point.build.vulkan ? [("Vulkan0", gpuEstimate.buffers, actual.total(device: "Vulkan0"))] : [])
    let total = actual.total
    let error = percent(estimate.total.buffers, total)
    let errorBytes = Int64(estimate.total.buffers) - Int64(total)
    rows += 1
    for place in places + [("total", estimate.total.buffers, total)] {
        let placeError = percent(place.estimate, place.actual)
        let under = Int64(place.estimate) - Int64(place.actual)
        worstPercent = max(worstPercent, abs(placeError))
        worstUnder = min(worstUnder, under)
        if abs(placeError) > 3 || under < -32 * 1_048_576 {
            failures.append(
                "\(point.columns.joined(separator: " ")) \(place.name) "
                    + String(format: "%+.2f %% (%+.2f MiB)", placeError, Double(under) / 1_048_576))
        }
    }
    let gpu = places.count > 1 ? places[1] : nil
    let cells =
        [label(point)]
        + [
            "\(mib(places[0].estimate))/\(mib(places[0].actual))",
            String(format: "%+.2f", percent(places[0].estimate, places[0].actual)),
            gpu.map { "\(mib($0.estimate))/\(mib($0.actual))" } ?? "-",
            gpu.map { String(format: "%+.2f", percent($0.estimate, $0.actual)) } ?? "-",
            gpu.map { _ in
                "\(mib(gpuEstimate.compute))/\(mib(actual.compute.filter { $0.key == "Vulkan0" }.values.reduce(0, +)))"
            } ?? "-",
            "\(mib(estimate.total.buffers))/\(mib(total))", String(format: "%+.2f", error),
            String(format: "%+.2f", Double(errorBytes) / 1_048_576),
        ]
    print(markdown ? "| " + cells.joined(separator: " | ") + " |" : cells.joined(separator: "\t"))
}
print("")
print(
    "\(rows) points; worst error (host, GPU or total) \(String(format: "%.2f", worstPercent)) %; worst "
        + "under-estimate \(String(format: "%.2f", Double(-worstUnder) / 1_048_576)) MiB; "
        + "\(failures.count) miss(es) of the goal (within 3 % and never under by more than 32 MiB, per device and total)"
)
for failure in failures { print("  miss: \(failure)") }
