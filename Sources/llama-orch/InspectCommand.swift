import ArgumentParser
import Foundation
import GGUF
import OrchestratorCore
import Scheduler

/// `llama-orch inspect MODEL.gguf`: what the scheduler knows about a model, read from its header only.
struct InspectCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a GGUF model's profile, metadata, largest tensors and memory estimates.",
        discussion: """
            Reads the header only (never the tensor data); a split model is read from all its shards. \
            Estimates are for llama-server on the CPU with one slot, flash attention on and an f16 KV cache.
            """
    )

    @Argument(help: "The model file (any shard of a split model).", completion: .file(extensions: ["gguf"]))
    var model: String

    @Option(name: .long, help: "Context sizes to estimate (repeatable; default: 4096, 16384 and the trained context).")
    var context: [Int] = []

    @Option(name: .long, help: "Largest tensors to list.")
    var tensors: Int = 10

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func execute() async throws {
        let gguf = try GGUFModel.open(path: model)
        let report = try InspectReport(model: gguf, contexts: context, tensorCount: tensors)
        if json {
            try printJSON(report)
        } else {
            print(report.text)
        }
    }
}

/// What `inspect` prints, as one value so the text and `--json` forms agree.
struct InspectReport: Encodable {
    struct Tensor: Encodable {
        let name: String
        let type: String
        let shape: [UInt64]
        let bytes: UInt64
        let shard: Int
    }

    struct Metadata: Encodable {
        let key: String
        let type: String
        let value: Summary
    }

    /// A metadata value, with arrays longer than 8 elements summarised as count and first elements.
    enum Summary: Encodable {
        case value(GGUFValue)
        case array(elementType: String, count: Int, first: [GGUFValue])

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .value(let value): try value.encode(to: encoder)
            case .array(let elementType, let count, let first):
                var container = encoder.container(keyedBy: SummaryKeys.self)
                try container.encode(elementType, forKey: .elementType)
                try container.encode(count, forKey: .count)
                try container.encode(first, forKey: .first)
            }
        }

        enum SummaryKeys: String, CodingKey { case elementType, count, first }

        var text: String {
            switch self {
            case .value(.string(let string)): string.count > 120 ? "\"\(string.prefix(117))...\"" : "\"\(string)\""
            case .value(let value): Self.scalar(value)
            case .array(let elementType, let count, let first):
                "[\(first.map(Self.scalar).joined(separator: ", "))\(count > first.count ? ", ..." : "")] "
                    + "(\(count) × \(elementType))"
            }
        }

        static func scalar(_ value: GGUFValue) -> String {
            switch value {
            case .string(let string): "\"\(string)\""
            case .bool(let flag): String(flag)
            case .float32(let number): String(number)
            case .float64(let number): String(number)
            case .array(let array) where array.count <= 8:
                "[\(array.values.map(scalar).joined(separator: ", "))]"
            case .array(let array): "[\(array.count) × \(array.elementType)]"
            default: value.intValue.map(String.init) ?? "?"
            }
        }
    }

    struct Estimate: Encodable {
        let context: Int
        let estimate: MemoryEstimate
    }

    let paths: [String]
    let version: UInt32
    let fileSize: UInt64
    let profile: ModelProfile
    let metadata: [Metadata]
    let largestTensors: [Tensor]
    let kvBytesPerToken: [String: UInt64]
    let estimates: [Estimate]

    init(model: GGUFModel, contexts: [Int], tensorCount: Int) throws {
        let profile = try ModelProfile(model: model)
        self.paths = model.paths
        self.version = model.files[0].version
        self.fileSize = model.fileSize
        self.profile = profile
        self.metadata = model.metadata.entries.map { entry in
            let summary: Summary
            if case .array(let array) = entry.value, array.count > 8 {
                summary = .array(elementType: "\(array.elementType)", count: array.count, first: array.prefix(4))
            } else {
                summary = .value(entry.value)
            }
            return Metadata(key: entry.key, type: "\(entry.value.type)", value: summary)
        }
        self.largestTensors = model.tensors.sorted { ($0.byteCount, $1.name) > ($1.byteCount, $0.name) }
            .prefix(max(0, tensorCount))
            .map {
                Tensor(name: $0.name, type: $0.type.name, shape: $0.dimensions, bytes: $0.byteCount, shard: $0.shard)
            }
        let estimator = MemoryEstimator(profile: profile)
        var perToken: [String: UInt64] = [:]
        for name in ["f32", "f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"] {
            guard let type = GGMLType.named(name),
                profile.keyLength % Int(type.blockElements) == 0, profile.valueLength % Int(type.blockElements) == 0
            else { continue }
            perToken[name] = estimator.kvBytesPerToken(typeK: type, typeV: type)
        }
        self.kvBytesPerToken = perToken
        var sizes = contexts.filter { $0 > 0 }
        if sizes.isEmpty {
            sizes = [4096, 16384].filter { profile.contextLength == 0 || $0 < profile.contextLength }
            if profile.contextLength > 0 { sizes.append(profile.contextLength) }
        }
        // Best effort: a model whose metadata no real machine could hold still gets its profile printed.
        self.estimates = sizes.compactMap { size in
            (try? estimator.estimate(ServerParameters(contextSize: size))).map { Estimate(context: size, estimate: $0) }
        }
    }

    var text: String {
        func mib(_ bytes: UInt64) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }
        let p = profile
        var lines: [String] = []
        lines.append("model:        \(paths.joined(separator: ", "))")
        lines.append("format:       GGUF v\(version), \(mib(fileSize)) in \(paths.count) file(s)")
        lines.append("architecture: \(p.architecture)\(p.name.map { " (\($0))" } ?? "")")
        lines.append(
            "parameters:   \(p.parameterCount) (\(String(format: "%.3f", Double(p.parameterCount) / 1e6)) M); "
                + "tensors \(mib(p.tensorBytes))")
        lines.append(
            "types:        "
                + p.quantization.map { "\($0.type) \($0.tensors) tensors \(mib($0.bytes))" }.joined(separator: ", "))
        func perLayer(_ values: [Int]) -> String {
            Set(values).count <= 1 ? String(values.first ?? 0) : "[\(values.map(String.init).joined(separator: ","))]"
        }
        lines.append(
            "layers:       \(p.layerCount); embedding \(p.embeddingLength); feed-forward "
                + "\(p.feedForwardLength.map(String.init) ?? "-"); heads \(perLayer(p.headCount)); KV heads "
                + "\(perLayer(p.headCountKV)); head dims K \(p.keyLength) V \(p.valueLength)")
        lines.append(
            "context:      \(p.contextLength) trained; vocabulary \(p.vocabularySize)"
                + (p.slidingWindow.map {
                    "; sliding window \($0) on \(p.slidingWindowLayers.filter { $0 }.count) layers"
                }
                    ?? ""))
        if p.expertCount > 0 { lines.append("experts:      \(p.expertCount), \(p.expertUsedCount) used per token") }
        let layerBytes = p.layerBytes
        lines.append(
            "bytes:        per block layer \(mib(layerBytes.min() ?? 0))"
                + (layerBytes.min() == layerBytes.max() ? "" : " to \(mib(layerBytes.max() ?? 0))")
                + "; output layer \(mib(p.outputBytes))"
                + (p.outputTiedToEmbedding ? " (tied: a copy of token_embd on the output device)" : "")
                + "; token embedding \(mib(p.tokenEmbeddingBytes)) (host)"
                + (p.otherBytes > 0 ? "; other \(mib(p.otherBytes))" : ""))
        lines.append("")
        lines.append("metadata (\(metadata.count) keys):")
        for entry in metadata { lines.append("  \(entry.key) [\(entry.type)] = \(entry.value.text)") }
        lines.append("")
        lines.append("largest tensors:")
        for tensor in largestTensors {
            let shape = tensor.shape.map(String.init).joined(separator: " × ")
            lines.append("  \(tensor.name)  \(tensor.type)  [\(shape)]  \(mib(tensor.bytes))")
        }
        lines.append("")
        lines.append("KV cache per token (all layers):")
        for (name, bytes) in kvBytesPerToken.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
            lines.append("  \(name): \(String(format: "%.1f", Double(bytes) / 1024)) KiB")
        }
        lines.append("")
        lines.append("estimate on the CPU (1 slot, flash attention, f16 KV; weights / KV / compute / output = total):")
        for entry in estimates {
            let host = entry.estimate.host
            lines.append(
                "  -c \(entry.context): \(mib(host.weights)) / \(mib(host.kvCache)) / \(mib(host.compute)) / "
                    + "\(mib(host.output)) = \(mib(host.total))")
        }
        return lines.joined(separator: "\n")
    }
}
