import Foundation
import GGUF

/// The shape of a llama-architecture model to write: enough knobs for dense, grouped-query, mixture-of-experts
/// and quantized variants that the real llama-server loads and runs.
public struct TinyModelSpec: Sendable, Equatable {
    /// `general.name`.
    public var name: String
    /// Blocks (`llama.block_count`).
    public var layers: Int
    /// Embedding width.
    public var embedding: Int
    /// Query heads.
    public var heads: Int
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    public var kvHeads: Int
    /// Feed-forward width (per expert for a mixture of experts).
    public var feedForward: Int
    /// Trained context length.
    public var contextLength: Int
    /// Vocabulary size: at least 259 (3 specials and 256 byte tokens); the rest are plain filler tokens.
    public var vocabulary: Int
    /// Experts (0 for dense).
    public var experts: Int = 0
    /// Experts used per token.
    public var expertsUsed: Int = 0
    /// Type of the weight matrices (norms are always F32).
    public var matrixType: GGMLType = .f16
    /// Type of the token embedding.
    public var embeddingType: GGMLType = .f16
    /// Type of `output.weight` (default: the embedding's type).
    public var outputType: GGMLType?
    /// Types of some block matrices by their name in the block (`ffn_down`, `attn_v`), as llama.cpp's K-quant
    /// mixes give a few matrices a wider type.
    public var matrixTypeOverrides: [String: GGMLType] = [:]
    /// Whether to write `output.weight`; without it llama.cpp ties the output to the token embedding.
    public var separateOutput: Bool = true
    /// Whether head counts are written as per-layer arrays.
    public var headCountsAsArrays: Bool = false
    /// Random weights (small models) or zero weights written as holes (large models).
    public var randomWeights: Bool = true

    /// A spec with the required fields.
    public init(
        name: String, layers: Int, embedding: Int, heads: Int, kvHeads: Int, feedForward: Int,
        contextLength: Int = 4096, vocabulary: Int = 259
    ) {
        self.name = name
        self.layers = layers
        self.embedding = embedding
        self.heads = heads
        self.kvHeads = kvHeads
        self.feedForward = feedForward
        self.contextLength = contextLength
        self.vocabulary = vocabulary
    }

    /// The head dimension.
    public var headDimension: Int { embedding / heads }
}

/// Tiny GGUF models that the real llama-server loads: fixtures for tests, the accuracy bench and the demo.
///
/// All use the `llama` architecture with a SentencePiece ("llama") vocabulary of `<unk>`, `<s>`, `</s>` and the
/// 256 byte tokens `<0x00>`..`<0xFF>` (plus filler tokens when a bigger vocabulary is wanted), which is a path
/// llama.cpp's vocabulary loader accepts without any merges or pre-tokenizer.
public enum TinyModels {
    /// The fixture kinds `make-tiny-model --kind` accepts, by name.
    public static let kinds: [String: TinyModelSpec] = [
        "mini": mini, "dense": dense, "moe": moe, "q8_0": q8_0, "q4_0": q4_0, "tied": tied, "large": large,
        "large-q8_0": largeQ8_0, "medium": medium, "wide-embedding": wideEmbedding, "wide-ffn": wideFFN,
        "llama-8b": llama8B, "llama-8b-q4_k": llama8BQ4K, "llama-3b": llama3B, "qwen-1.5b": qwen1_5B,
        "moe-2b": moe2B,
    ]

    /// The realistic-scale fixtures: the shapes users run, written sparse (zero blocks are valid blocks of every
    /// type, and the writer leaves them as holes, so a 4.4 GB model costs no disk and no time to write). They
    /// load and answer in llama-server like any model (their text is noise); the accuracy bench measures them.
    public static let realistic: [(name: String, spec: TinyModelSpec)] = [
        ("llama-8b", llama8B), ("llama-8b-q4_k", llama8BQ4K), ("llama-3b", llama3B), ("qwen-1.5b", qwen1_5B),
        ("moe-2b", moe2B),
    ]

    /// An 8B-class llama (Llama 3.1 8B's shape: 32 blocks of 4096, 32 heads, 8 KV heads, feed-forward 14336,
    /// vocabulary 128256, untied output), every matrix Q4_0: 4.3 GiB.
    public static let llama8B: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "llama-8b-q4_0", layers: 32, embedding: 4096, heads: 32, kvHeads: 8, feedForward: 14336,
            contextLength: 131072, vocabulary: 128256)
        spec.matrixType = .q4_0
        spec.embeddingType = .q4_0
        spec.randomWeights = false
        return spec
    }()

    /// The 8B shape as a K-quant mix like Q4_K_M: Q4_K matrices, Q6_K `ffn_down`, `attn_v` and output, Q4_K
    /// embedding: 4.6 GiB.
    public static let llama8BQ4K: TinyModelSpec = {
        var spec = llama8B
        spec.name = "llama-8b-q4_k_m"
        spec.matrixType = GGMLType.named("Q4_K")!
        spec.embeddingType = GGMLType.named("Q4_K")!
        spec.outputType = GGMLType.named("Q6_K")!
        spec.matrixTypeOverrides = ["ffn_down": GGMLType.named("Q6_K")!, "attn_v": GGMLType.named("Q6_K")!]
        return spec
    }()

    /// A 3B-class llama with tied embeddings (Llama 3.2 3B's shape: 28 blocks of 3072, 24 heads, 8 KV heads,
    /// feed-forward 8192, vocabulary 128256, no `output.weight`), Q8_0: 3.2 GiB.
    public static let llama3B: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "llama-3b-q8_0", layers: 28, embedding: 3072, heads: 24, kvHeads: 8, feedForward: 8192,
            contextLength: 131072, vocabulary: 128256)
        spec.matrixType = .q8_0
        spec.embeddingType = .q8_0
        spec.separateOutput = false
        spec.randomWeights = false
        return spec
    }()

    /// Grouped-query attention with a large vocabulary (Qwen2.5 1.5B's shape: 28 blocks of 1536, 12 heads, 2 KV
    /// heads, feed-forward 8960, vocabulary 151936, tied), Q4_K matrices with Q6_K `ffn_down` and embedding:
    /// 1.0 GiB.
    public static let qwen1_5B: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "qwen-1.5b-q4_k_m", layers: 28, embedding: 1536, heads: 12, kvHeads: 2, feedForward: 8960,
            contextLength: 32768, vocabulary: 151936)
        spec.matrixType = GGMLType.named("Q4_K")!
        spec.embeddingType = GGMLType.named("Q6_K")!
        spec.matrixTypeOverrides = ["ffn_down": GGMLType.named("Q6_K")!]
        spec.separateOutput = false
        spec.randomWeights = false
        return spec
    }()

    /// A mixture of experts (16 blocks of 2048, 16 heads, 4 KV heads, 16 experts of feed-forward 1408 with 4
    /// used, vocabulary 50304, untied), Q4_0 experts and Q8_0 attention, embedding and output: 1.5 GiB.
    public static let moe2B: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "moe-2b", layers: 16, embedding: 2048, heads: 16, kvHeads: 4, feedForward: 1408,
            contextLength: 4096, vocabulary: 50304)
        spec.experts = 16
        spec.expertsUsed = 4
        spec.matrixType = .q4_0
        spec.embeddingType = .q8_0
        spec.matrixTypeOverrides = [
            "attn_q": .q8_0, "attn_k": .q8_0, "attn_v": .q8_0, "attn_output": .q8_0,
        ]
        spec.randomWeights = false
        return spec
    }()

    /// A calibration shape: wide embedding, narrow feed-forward, many heads (sparse, about 40 MB).
    public static let wideEmbedding: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "wide-embedding", layers: 3, embedding: 1536, heads: 24, kvHeads: 8, feedForward: 512,
            contextLength: 8192, vocabulary: 4096)
        spec.randomWeights = false
        return spec
    }()

    /// A calibration shape: narrow embedding, wide feed-forward, big vocabulary, Q4_0 (sparse, about 30 MB).
    public static let wideFFN: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "wide-ffn", layers: 3, embedding: 256, heads: 4, kvHeads: 4, feedForward: 4096,
            contextLength: 8192, vocabulary: 50000)
        spec.matrixType = .q4_0
        spec.randomWeights = false
        return spec
    }()

    /// The smallest model llama.cpp loads (one layer of 32, 259 tokens, about 40 KB): the mutation run's seed.
    public static let mini = TinyModelSpec(
        name: "mini", layers: 1, embedding: 32, heads: 2, kvHeads: 1, feedForward: 32)

    /// Dense llama with grouped-query attention (2 heads of 32, 1 KV head), F16 matrices.
    public static let dense = TinyModelSpec(
        name: "tiny-dense", layers: 2, embedding: 64, heads: 2, kvHeads: 1, feedForward: 128)

    /// Mixture of experts: 4 experts, 2 used, with a router (`ffn_gate_inp`).
    public static let moe: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "tiny-moe", layers: 2, embedding: 64, heads: 2, kvHeads: 1, feedForward: 64)
        spec.experts = 4
        spec.expertsUsed = 2
        return spec
    }()

    /// Dense with Q8_0 matrices and embedding.
    public static let q8_0 = quantized(.q8_0, name: "tiny-q8_0")

    /// Dense with Q4_0 matrices and embedding.
    public static let q4_0 = quantized(.q4_0, name: "tiny-q4_0")

    /// Dense with matrices and embedding of one quantized type.
    private static func quantized(_ type: GGMLType, name: String) -> TinyModelSpec {
        var spec = TinyModelSpec(name: name, layers: 2, embedding: 64, heads: 2, kvHeads: 1, feedForward: 128)
        spec.matrixType = type
        spec.embeddingType = type
        return spec
    }

    /// Dense without `output.weight` (tied embeddings) and with head counts as per-layer arrays.
    public static let tied: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "tiny-tied", layers: 3, embedding: 128, heads: 4, kvHeads: 2, feedForward: 96)
        spec.separateOutput = false
        spec.headCountsAsArrays = true
        return spec
    }()

    /// A medium model (about 60 MB, sparse) with a 32k vocabulary, for memory measurements.
    public static let medium: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "medium-f16", layers: 4, embedding: 512, heads: 8, kvHeads: 2, feedForward: 1408,
            contextLength: 8192, vocabulary: 32000)
        spec.randomWeights = false
        return spec
    }()

    /// A large model (about 310 MB, sparse): 8 layers of 1024, 32k vocabulary, F16.
    public static let large: TinyModelSpec = {
        var spec = TinyModelSpec(
            name: "large-f16", layers: 8, embedding: 1024, heads: 16, kvHeads: 4, feedForward: 2816,
            contextLength: 16384, vocabulary: 32000)
        spec.randomWeights = false
        return spec
    }()

    /// The large model with Q8_0 weights (about 165 MB, sparse).
    public static let largeQ8_0: TinyModelSpec = {
        var spec = large
        spec.name = "large-q8_0"
        spec.matrixType = .q8_0
        spec.embeddingType = .q8_0
        return spec
    }()

    /// The model the demo runs: the dense fixture.
    public static let demo = dense

    /// Writes the demo model (a tiny dense llama that llama-server loads and answers with) to `path`.
    public static func writeDemoModel(to path: String) throws {
        try writer(for: demo).write(to: path)
    }

    /// The writer for a spec: metadata, vocabulary and every tensor llama.cpp's llama loader expects.
    public static func writer(for spec: TinyModelSpec) -> GGUFWriter {
        var writer = GGUFWriter()
        let arch = "llama"
        let layers = spec.layers
        writer.set("general.architecture", .string(arch))
        writer.set("general.name", .string(spec.name))
        writer.set("general.file_type", .uint32(fileType(spec.matrixType)))
        writer.set("\(arch).block_count", .uint32(UInt32(layers)))
        writer.set("\(arch).context_length", .uint32(UInt32(spec.contextLength)))
        writer.set("\(arch).embedding_length", .uint32(UInt32(spec.embedding)))
        writer.set("\(arch).feed_forward_length", .uint32(UInt32(spec.feedForward)))
        if spec.headCountsAsArrays {
            writer.set(
                "\(arch).attention.head_count", .array(.uint32(Array(repeating: UInt32(spec.heads), count: layers))))
            writer.set(
                "\(arch).attention.head_count_kv",
                .array(.uint32(Array(repeating: UInt32(spec.kvHeads), count: layers))))
        } else {
            writer.set("\(arch).attention.head_count", .uint32(UInt32(spec.heads)))
            writer.set("\(arch).attention.head_count_kv", .uint32(UInt32(spec.kvHeads)))
        }
        writer.set("\(arch).attention.layer_norm_rms_epsilon", .float32(1e-5))
        writer.set("\(arch).rope.dimension_count", .uint32(UInt32(spec.headDimension)))
        writer.set("\(arch).rope.freq_base", .float32(10000))
        writer.set("\(arch).vocab_size", .uint32(UInt32(spec.vocabulary)))
        if spec.experts > 0 {
            writer.set("\(arch).expert_count", .uint32(UInt32(spec.experts)))
            writer.set("\(arch).expert_used_count", .uint32(UInt32(spec.expertsUsed)))
        }
        addVocabulary(to: &writer, size: spec.vocabulary)

        var seed: UInt64 = 1
        func content(_ base: TensorContent = .random(seed: 0)) -> TensorContent {
            seed += 1
            guard spec.randomWeights else { return .zeros }
            if case .random = base { return .random(seed: seed) }
            return base
        }
        let embd = UInt64(spec.embedding)
        let vocab = UInt64(spec.vocabulary)
        let qDim = UInt64(spec.heads * spec.headDimension)
        let kvDim = UInt64(spec.kvHeads * spec.headDimension)
        let ff = UInt64(spec.feedForward)
        func matrix(_ name: String) -> GGMLType { spec.matrixTypeOverrides[name] ?? spec.matrixType }
        writer.add(TensorSpec("token_embd.weight", [embd, vocab], spec.embeddingType, content()))
        for layer in 0..<layers {
            let p = "blk.\(layer)."
            writer.add(TensorSpec(p + "attn_norm.weight", [embd], .f32, content(.ones)))
            writer.add(TensorSpec(p + "attn_q.weight", [embd, qDim], matrix("attn_q"), content()))
            writer.add(TensorSpec(p + "attn_k.weight", [embd, kvDim], matrix("attn_k"), content()))
            writer.add(TensorSpec(p + "attn_v.weight", [embd, kvDim], matrix("attn_v"), content()))
            writer.add(TensorSpec(p + "attn_output.weight", [qDim, embd], matrix("attn_output"), content()))
            writer.add(TensorSpec(p + "ffn_norm.weight", [embd], .f32, content(.ones)))
            if spec.experts > 0 {
                let experts = UInt64(spec.experts)
                writer.add(TensorSpec(p + "ffn_gate_inp.weight", [embd, experts], .f32, content()))
                writer.add(TensorSpec(p + "ffn_gate_exps.weight", [embd, ff, experts], matrix("ffn_gate"), content()))
                writer.add(TensorSpec(p + "ffn_up_exps.weight", [embd, ff, experts], matrix("ffn_up"), content()))
                writer.add(TensorSpec(p + "ffn_down_exps.weight", [ff, embd, experts], matrix("ffn_down"), content()))
            } else {
                writer.add(TensorSpec(p + "ffn_gate.weight", [embd, ff], matrix("ffn_gate"), content()))
                writer.add(TensorSpec(p + "ffn_up.weight", [embd, ff], matrix("ffn_up"), content()))
                writer.add(TensorSpec(p + "ffn_down.weight", [ff, embd], matrix("ffn_down"), content()))
            }
        }
        writer.add(TensorSpec("output_norm.weight", [embd], .f32, content(.ones)))
        if spec.separateOutput {
            writer.add(TensorSpec("output.weight", [embd, vocab], spec.outputType ?? spec.embeddingType, content()))
        }
        return writer
    }

    /// Writes a fixture to `path`.
    public static func write(_ spec: TinyModelSpec, to path: String) throws {
        try writer(for: spec).write(to: path)
    }

    /// The SentencePiece vocabulary: `<unk>`, `<s>`, `</s>`, 256 byte tokens, then filler tokens.
    static func addVocabulary(to writer: inout GGUFWriter, size: Int) {
        precondition(size >= 259, "the vocabulary needs at least 259 tokens")
        var tokens = ["<unk>", "<s>", "</s>"]
        var types: [Int32] = [2, 3, 3]
        for byte in 0..<256 {
            let hex = String(byte, radix: 16, uppercase: true)
            tokens.append("<0x" + (hex.count == 1 ? "0" : "") + hex + ">")
            types.append(6)
        }
        var filler = 0
        while tokens.count < size {
            tokens.append("\u{2581}t\(filler)")
            types.append(1)
            filler += 1
        }
        let scores = (0..<size).map { Float(-$0) }
        writer.set("tokenizer.ggml.model", .string("llama"))
        writer.set("tokenizer.ggml.tokens", .array(.string(tokens)))
        writer.set("tokenizer.ggml.scores", .array(.float32(scores)))
        writer.set("tokenizer.ggml.token_type", .array(.int32(types)))
        writer.set("tokenizer.ggml.bos_token_id", .uint32(1))
        writer.set("tokenizer.ggml.eos_token_id", .uint32(2))
        writer.set("tokenizer.ggml.unknown_token_id", .uint32(0))
        writer.set("tokenizer.ggml.add_bos_token", .bool(true))
    }

    /// llama.cpp's `general.file_type` for a model whose matrices are of this type.
    static func fileType(_ type: GGMLType) -> UInt32 {
        switch type {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q8_0: 7
        case GGMLType.named("Q4_K"): 15
        default: 1
        }
    }
}
