import GGUF

/// Where llama.cpp's model loader puts each weight: on its layer's device, in a repacked copy in host memory, or
/// in the mapped model file, as `llama_model_loader::create_tensor` chooses (llama.cpp 2025–2026).
///
/// The loader walks a list of buffer types per layer and takes the first that supports the weight's operation:
/// - a layer on a GPU: the GPU, then the host's list;
/// - a layer in host memory: the first GPU's pinned host buffer (when a GPU backend is loaded), the CPU's
///   repacked buffer (`CPU_REPACK`: the types `ServerParameters.CPURepack` names, matrices whose rows are a
///   multiple of 8), then plain CPU memory. With mmap a pinned host buffer is replaced by the mapped file, so
///   with a GPU backend loaded nothing that GPU could take is repacked.
///
/// Newer builds' Vulkan backend refuses a weight (and so its layer's device, and op offload) when it or its
/// product with a 512-token batch is larger than the device's limit (`maxTensorBytes`: on Mesa's lavapipe the
/// 128 MiB storage-buffer range, which keeps an 8B model's 282 MiB output matrix in host memory). Older builds
/// check no sizes.
///
/// Host memory then holds the span of the model file from the first to the last weight left mapped (per shard:
/// a repacked weight in the middle of the file stays inside the span), plus the repacked copies.
struct WeightBuffers {
    let profile: ModelProfile
    let parameters: ServerParameters
    /// Per weight of `profile.weights`: the device index, or `nil` for host memory.
    private(set) var device: [Int?] = []
    /// Per weight: whether its host copy is repacked.
    private(set) var repacked: [Bool] = []
    /// Model bytes per device of `parameters.deviceLayers`.
    private(set) var deviceBytes: [UInt64]
    /// The mapped spans of all shards.
    private(set) var mappedBytes: UInt64 = 0
    /// The repacked copies.
    private(set) var repackedBytes: UInt64 = 0
    /// Weights of device layers that stay in host memory because the device does not take them.
    private(set) var refusedByDevice: [String] = []

    /// The batch llama.cpp sizes its support checks with.
    static let checkTokens: UInt64 = 512

    init(profile: ModelProfile, parameters: ServerParameters, owner: [Int]) {
        self.profile = profile
        self.parameters = parameters
        deviceBytes = Array(repeating: 0, count: parameters.deviceLayers.count)
        let hostBufferFirst = parameters.gpuBackendLoaded || !parameters.deviceLayers.isEmpty
        let firstDeviceLimit = parameters.deviceLayers.first?.maxTensorBytes
        var spans: [Int: (first: UInt64, last: UInt64)] = [:]
        for weight in profile.weights {
            let layerOwner = weight.layer.map { $0 < owner.count ? owner[$0] : -1 } ?? -1
            if layerOwner >= 0, accepts(parameters.deviceLayers[layerOwner].maxTensorBytes, weight) {
                device.append(layerOwner)
                repacked.append(false)
                deviceBytes[layerOwner] += weight.bytes
                continue
            }
            device.append(nil)
            if layerOwner >= 0 { refusedByDevice.append(weight.name) }
            let pinnedFirst = hostBufferFirst && accepts(firstDeviceLimit, weight)
            if !pinnedFirst && isRepackable(weight) {
                repacked.append(true)
                repackedBytes += weight.bytes
            } else {
                repacked.append(false)
                let span = spans[weight.shard] ?? (weight.offset, weight.offset + weight.bytes)
                spans[weight.shard] = (min(span.first, weight.offset), max(span.last, weight.offset + weight.bytes))
            }
        }
        mappedBytes = spans.values.reduce(0) { $0 + ($1.last - $1.first) }
    }

    /// Whether a device with this limit takes the weight: the weight, the batch it is multiplied with and the
    /// product must each fit (`ggml_backend_vk_device_supports_op`). Older builds check nothing.
    func accepts(_ limit: UInt64?, _ weight: ModelProfile.Weight) -> Bool {
        guard let limit, !parameters.legacyComputeGraph else { return true }
        guard weight.bytes <= limit else { return false }
        let width = weight.dimensions.first ?? 0
        let used = UInt64(max(profile.expertUsedCount, 1))
        switch weight.operation {
        case .matrixMultiply:
            return weight.rows * Self.checkTokens * 4 <= limit && width * Self.checkTokens * 4 <= limit
        case .expertMultiply:
            return weight.rows * used * Self.checkTokens * 4 <= limit && width * used * Self.checkTokens * 4 <= limit
        case .rowLookup:
            return width * Self.checkTokens * 4 <= limit
        case .elementwise:
            return true
        }
    }

    /// Whether the CPU backend copies the weight into a repacked layout.
    func isRepackable(_ weight: ModelProfile.Weight) -> Bool {
        let shaped =
            (weight.operation == .matrixMultiply && weight.dimensions.count == 2)
            || (weight.operation == .expertMultiply && weight.dimensions.count == 3)
        return shaped && weight.rows % 8 == 0 && parameters.cpuRepack.types.contains(weight.type)
    }

    /// The host-resident weights whose copies the first GPU holds together at the peak of its compute buffer
    /// when llama.cpp offloads large-batch operations on them, and the bytes of those copies and their results;
    /// `nil` when no host weight can be offloaded.
    ///
    /// Only weights left in the mapped file qualify (a repacked buffer is not host memory to the scheduler), and
    /// only those the device accepts. Measured with Vulkan on lavapipe:
    /// - older builds copy a split's weights together: the output matrix with the logits of the batch (and, when
    ///   the last block is in host memory, its `ffn_down` and that product's input), or a block's projections
    ///   after the attention (output projection and feed-forward) with the feed-forward activations; the device's
    ///   buffer is the larger of that and its own graph;
    /// - newer builds add about one weight at a time to the device's own graph: the largest such weight.
    func opOffloadGroup(tokens: Int, hostLayers: [Int]) -> (weights: [String], bytes: UInt64)? {
        let limit = parameters.deviceLayers.first?.maxTensorBytes
        let t = UInt64(tokens)
        let embedding = UInt64(profile.embeddingLength)
        let feedForward =
            UInt64(profile.feedForwardLength ?? 4 * profile.embeddingLength) * UInt64(max(profile.expertUsedCount, 1))
        let hostBlocks = Set(hostLayers)
        var candidates: [(weights: [String], bytes: UInt64)] = []
        var byLayer: [Int: [(name: String, bytes: UInt64)]] = [:]
        var inFileOrder: [(name: String, bytes: UInt64)] = []
        for (index, weight) in profile.weights.enumerated() {
            guard device[index] == nil, !repacked[index],
                weight.operation == .matrixMultiply
                    || weight.operation == .expertMultiply, let layer = weight.layer, hostBlocks.contains(layer),
                accepts(limit, weight)
            else { continue }
            byLayer[layer, default: []].append((weight.name, weight.bytes))
            inFileOrder.append((weight.name, weight.bytes))
        }
        if !parameters.legacyComputeGraph {
            // The first of the largest, so the same model always names the same weight.
            var largest: (name: String, bytes: UInt64)?
            for weight in inFileOrder where weight.bytes > (largest?.bytes ?? 0) { largest = weight }
            return largest.map { ([$0.name], $0.bytes) }
        }
        let attentionInputs = ["attn_q.", "attn_k.", "attn_v.", "attn_qkv."]
        for (layer, weights) in byLayer.sorted(by: { $0.key < $1.key }) {
            if layer == profile.layerCount {
                let outputs = weights.filter { $0.name == "output.weight" || $0.name == "token_embd.weight" }
                guard !outputs.isEmpty else { continue }
                var names = outputs.map(\.name)
                var bytes =
                    outputs.reduce(0) { $0 + $1.bytes } + UInt64(profile.vocabularySize) * t * 4 + embedding * t * 4
                if let down = byLayer[profile.layerCount - 1]?.first(where: { $0.name.contains(".ffn_down") }) {
                    names.append(down.name)
                    bytes += down.bytes + feedForward * t * 4
                }
                candidates.append((names, bytes))
            } else {
                let group = weights.filter { weight in !attentionInputs.contains { weight.name.contains($0) } }
                guard !group.isEmpty else { continue }
                candidates.append((group.map(\.name), group.reduce(0) { $0 + $1.bytes } + feedForward * t * 4))
            }
        }
        return candidates.max { ($0.bytes, $1.weights.count) < ($1.bytes, $0.weights.count) }
    }
}
