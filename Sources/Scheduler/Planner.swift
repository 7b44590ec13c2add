import GGUF
import OrchestratorCore

/// One instance ready to be planned: its config and what it needs.
public struct PlanningInput: Sendable {
    public var config: InstanceConfig
    public var demand: InstanceDemand
    /// The model and the parameters it was priced with: the planner estimates the final placement again to say
    /// what it holds (op offload) and how certain that is.
    public var estimator: MemoryEstimator?
    public var parameters: ServerParameters?

    public init(
        config: InstanceConfig, demand: InstanceDemand, estimator: MemoryEstimator? = nil,
        parameters: ServerParameters? = nil
    ) {
        self.config = config
        self.demand = demand
        self.estimator = estimator
        self.parameters = parameters
    }

    /// Reads the model's header and prices the config's parameters as `binary` will run them on `devices`.
    public static func load(
        _ config: InstanceConfig, binary: LlamaServerBinary, devices: [Device] = []
    ) throws -> PlanningInput {
        let model = try GGUFModel.open(path: config.model.resolvedPath)
        let profile = try ModelProfile(model: model)
        let parameters = ServerParameters(
            config: config, autoFlashAttention: binary.capabilities.flashAttentionTakesValue,
            legacyComputeGraph: binary.capabilities.offloadOrder == .outputLast)
        let limits = devices.filter { !$0.isHost }.compactMap(\.maxTensorBytes)
        let estimator = MemoryEstimator(profile: profile)
        let demand = try InstanceDemand(
            name: config.name, estimator: estimator, parameters: parameters, deviceMaxTensorBytes: limits.min())
        return PlanningInput(config: config, demand: demand, estimator: estimator, parameters: parameters)
    }
}

/// A placed instance and the exact command that starts it.
public struct PlannedInstance: Sendable, Equatable, Codable {
    public var placement: Placement
    public var command: LaunchCommand
    /// What the estimate of this placement says beyond its bytes: op offload, and the least certain part.
    public var estimateNotes: [String] = []
}

/// What a planning round decided, per device and per instance.
public struct PlanReport: Sendable, Equatable, Codable {
    /// One device's memory: what running instances hold, what each planned instance takes, what stays free.
    public struct DeviceLine: Sendable, Equatable, Codable {
        public var id: String
        public var name: String
        public var description: String
        public var kind: DeviceKind
        public var totalBytes: UInt64
        public var freeBytes: UInt64
        public var headroomBytes: UInt64
        public var heldBytes: UInt64
        /// Instance name → bytes, in plan order.
        public var planned: [PlannedBytes]
        /// Free memory after the held and planned bytes (headroom not subtracted).
        public var remainingBytes: UInt64
    }

    public struct PlannedBytes: Sendable, Equatable, Codable {
        public var instance: String
        public var bytes: UInt64
    }

    public var backend: String
    public var binary: String
    public var binaryVersion: String
    public var devices: [DeviceLine]
    public var instances: [PlannedInstance]
    public var refusals: [PlacementRefusal]
}

/// Places instances and builds their command lines: what `plan` prints and `up` will execute.
public struct Planner: Sendable {
    public var placer: Placer
    public var builder: CommandBuilder

    public init(policy: PlacementPolicy, binary: LlamaServerBinary, defaultThreads: Int) {
        placer = Placer(policy: policy, offloadOrder: binary.capabilities.offloadOrder)
        builder = CommandBuilder(binary: binary, defaultThreads: defaultThreads)
    }

    /// Plans `inputs` on `devices` after what running instances hold.
    ///
    /// - Parameter launchSettings: the driver's `--device` names and environment for a set of devices.
    public func plan(
        _ inputs: [PlanningInput], backend: String, devices: [Device], heldBytes: [String: UInt64],
        launchSettings: ([Device]) -> LaunchSettings
    ) -> PlanReport {
        let requests = inputs.map { input in
            var pins: [DeviceSelector] = []
            if let device = input.config.gpu.deviceID { pins = [device] }
            if let list = input.config.gpu.devices { pins = list }
            return PlacementRequest(demand: input.demand, pinnedDevices: pins, layers: input.config.gpu.layers)
        }
        let plan = placer.place(requests, on: devices, heldBytes: heldBytes)
        var instances: [PlannedInstance] = []
        for placement in plan.placements {
            guard let input = inputs.first(where: { $0.config.name == placement.instance }) else { continue }
            let used = placement.shares.compactMap { share in devices.first { $0.id == share.deviceID } }
            let command = builder.command(for: input.config, placement: placement, launch: launchSettings(used))
            var notes: [String] = []
            if let estimator = input.estimator, var parameters = input.parameters {
                parameters.deviceLayers = placement.shares.map { share in
                    ServerParameters.DeviceLayers(
                        device: share.llamaName ?? share.deviceID,
                        layers: share.blockCount + (share.holdsOutput ? 1 : 0),
                        maxTensorBytes: devices.first { $0.id == share.deviceID }?.maxTensorBytes)
                }
                notes = (try? estimator.estimate(parameters))?.notes(legacy: parameters.legacyComputeGraph) ?? []
            }
            instances.append(PlannedInstance(placement: placement, command: command, estimateNotes: notes))
        }
        let lines = devices.map { device -> PlanReport.DeviceLine in
            let planned = plan.placements.compactMap { placement -> PlanReport.PlannedBytes? in
                let bytes =
                    device.isHost
                    ? placement.hostBytes
                    : placement.shares.filter { $0.deviceID == device.id }.reduce(0) { $0 + $1.bytes }
                return bytes > 0 ? PlanReport.PlannedBytes(instance: placement.instance, bytes: bytes) : nil
            }
            let held = heldBytes[device.id] ?? 0
            let used = planned.reduce(held) { $0 + $1.bytes }
            return PlanReport.DeviceLine(
                id: device.id,
                name: device.isHost ? "host" : device.llamaName ?? device.rawIndex.map { "#\($0)" } ?? device.id,
                description: device.description, kind: device.kind,
                totalBytes: device.totalBytes, freeBytes: device.freeBytes,
                headroomBytes: placer.policy.headroom(forTotal: device.totalBytes), heldBytes: held, planned: planned,
                remainingBytes: min(device.freeBytes, device.totalBytes > held ? device.totalBytes - held : 0)
                    .subtractingClamped(used - held))
        }
        return PlanReport(
            backend: backend, binary: builder.binary.path, binaryVersion: builder.binary.capabilities.version,
            devices: lines, instances: instances, refusals: plan.refusals)
    }

    /// Bytes held per device by running (or queued) instances: what each measured once it is known, its estimate
    /// before (`Placement.heldBytes`).
    ///
    /// - Parameter hostID: the inventory's host device, which holds each placement's host bytes.
    public static func heldBytes(by held: [HeldPlacement], hostID: String?) -> [String: UInt64] {
        var bytes: [String: UInt64] = [:]
        for item in held {
            for deviceID in Set(item.placement.shares.map(\.deviceID)) {
                bytes[deviceID, default: 0] += item.placement.heldBytes(
                    deviceID: deviceID, isHost: false, measured: item.measured)
            }
            if let hostID {
                bytes[hostID, default: 0] += item.placement.heldBytes(
                    deviceID: hostID, isHost: true, measured: item.measured)
            }
        }
        return bytes
    }
}

/// Memory a running or queued instance holds: its placement, and what its server reported allocating once known.
public struct HeldPlacement: Sendable, Equatable {
    public var placement: Placement
    public var measured: MeasuredAllocation?

    public init(placement: Placement, measured: MeasuredAllocation? = nil) {
        self.placement = placement
        self.measured = measured
    }

    /// The runs' placements with their measurements; runs without a placement are skipped.
    public static func of(_ runs: [RunInfo]) -> [HeldPlacement] {
        runs.compactMap { run in run.placement.map { HeldPlacement(placement: $0, measured: run.measured) } }
    }
}
