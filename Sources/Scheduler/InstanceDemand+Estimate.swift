import GGUF
import OrchestratorCore

extension ServerParameters {
    /// The parameters the command builder will pass for this config (devices are added by the caller).
    ///
    /// - Parameter autoFlashAttention: what `flash_attention: auto` turns into with this build: newer builds
    ///   resolve `-fa auto` to on where the backend supports it (CPU, Vulkan); older ones have a bare `-fa`
    ///   switch, off unless given.
    ///   - legacyComputeGraph: the build predates the 2026 graph changes (its compute buffers are larger).
    public init(config: InstanceConfig, autoFlashAttention: Bool = true, legacyComputeGraph: Bool = false) {
        self.init(contextSize: config.model.contextSize)
        slots = config.server.parallel
        // `-np` is always explicit, so newer builds don't switch to a unified cache by themselves.
        unifiedKV = false
        batchSize = config.model.batchSize
        ubatchSize = min(config.model.ubatchSize ?? 512, config.model.batchSize)
        cacheTypeK = config.model.cacheTypeK.rawValue
        cacheTypeV = config.model.cacheTypeV.rawValue
        self.legacyComputeGraph = legacyComputeGraph
        switch config.model.flashAttention {
        case .on: flashAttention = true
        case .off: flashAttention = false
        case .auto: flashAttention = autoFlashAttention
        }
    }
}

extension InstanceDemand {
    /// What the placer needs, from the estimator: each layer's device bytes are the difference the estimate
    /// makes when that layer joins the device, so the placer's sums follow the estimator's rules exactly.
    ///
    /// - Parameters:
    ///   - parameters: everything but `deviceLayers`.
    ///   - deviceMaxTensorBytes: the smallest `Device.maxTensorBytes` of the devices it may be placed on.
    public init(
        name: String, estimator: MemoryEstimator, parameters: ServerParameters, deviceMaxTensorBytes: UInt64? = nil
    ) throws(EstimateError) {
        let layerCount = estimator.profile.layerCount
        func estimate(offloading units: Int) throws(EstimateError) -> (layers: UInt64, fixed: UInt64, host: UInt64) {
            var withDevices = parameters
            withDevices.deviceLayers =
                units > 0 ? [.init(device: "device", layers: units, maxTensorBytes: deviceMaxTensorBytes)] : []
            let result = try estimator.estimate(withDevices)
            let device = result.perDevice.first?.usage ?? .zero
            return (
                device.weights + device.kvCache, device.compute + device.output + device.overhead, result.host.total
            )
        }
        // Offloading one more layer unit (from the top: the output layer, then blk.N-1, ...) moves its bytes
        // from host memory to the device; the differences are each unit's cost on either side.
        var previous = try estimate(offloading: 0)
        var deviceUnits: [UInt64] = []
        var hostUnits: [UInt64] = []
        var perDevice: UInt64 = 0
        for count in 1...(layerCount + 1) {
            let current = try estimate(offloading: count)
            deviceUnits.append(current.layers > previous.layers ? current.layers - previous.layers : 0)
            hostUnits.append(previous.host > current.host ? previous.host - current.host : 0)
            perDevice = max(perDevice, current.fixed)
            previous = current
        }
        let blockBytes = (0..<layerCount).map { deviceUnits[layerCount - $0] }
        let hostBlockBytes = (0..<layerCount).map { hostUnits[layerCount - $0] }
        let typeK = GGMLType.named(parameters.cacheTypeK) ?? .f16
        let typeV = GGMLType.named(parameters.cacheTypeV) ?? .f16
        self.init(
            name: name, blockBytes: blockBytes, outputBytes: deviceUnits[0], perDeviceBytes: perDevice,
            hostBaseBytes: previous.host, hostBlockBytes: hostBlockBytes, hostOutputBytes: hostUnits[0],
            kvBytesPerCell: estimator.kvBytesPerToken(typeK: typeK, typeV: typeV),
            contextSize: parameters.contextSize)
    }
}
