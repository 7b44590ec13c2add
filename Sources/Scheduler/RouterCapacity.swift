import OrchestratorCore

/// The router's question about memory, answered with the placer: would a model get the placement it gets on its
/// own if these others held their memory?
///
/// Built from one planning round's devices and demands (`PlanningRound.prepare`) and the placements of the
/// instances that run now. Free memory as the drivers report it already excludes what those instances hold; the
/// question is about another set of residents, so each device counts as free what it reports plus what running
/// instances hold there, minus what the residents in question would hold (their recorded placement when they run,
/// their own placement otherwise).
public struct RouterCapacity: Sendable {
    struct Model: Sendable {
        var request: PlacementRequest
        /// Where it goes with nothing of ours resident: the offload a load should get.
        var target: Placement?
    }

    private let placer: Placer
    private let devices: [Device]
    private var models: [String: Model] = [:]
    /// Recorded placements of the instances that run now.
    private let running: [String: HeldPlacement]

    /// - Parameters:
    ///   - rounds: one prepared round per backend the routable instances use.
    ///   - running: the placements of the instances that run now, by instance.
    public init(rounds: [PlanningRound.Prepared], running: [String: HeldPlacement]) {
        self.running = running
        // Every backend's devices share the host; a GPU belongs to one backend's list.
        var devices: [Device] = []
        for round in rounds {
            for device in round.devices where !devices.contains(where: { $0.id == device.id }) {
                devices.append(device)
            }
        }
        placer = rounds.first?.planner.placer ?? Placer()
        let ours = Planner.heldBytes(by: Array(running.values), hostID: devices.first(where: \.isHost)?.id)
        for index in devices.indices { devices[index].freeBytes += ours[devices[index].id] ?? 0 }
        self.devices = devices
        for round in rounds {
            for input in round.inputs {
                var pins: [DeviceSelector] = []
                if let device = input.config.gpu.deviceID { pins = [device] }
                if let list = input.config.gpu.devices { pins = list }
                let request = PlacementRequest(
                    demand: input.demand, pinnedDevices: pins, layers: input.config.gpu.layers)
                models[input.config.name] = Model(request: request, target: nil)
            }
        }
        for name in models.keys {
            let target = placement(of: name, resident: [])
            models[name]?.target = target
        }
    }

    /// The models it knows.
    public var names: Set<String> { Set(models.keys) }

    /// Whether `name` gets at least its own placement's offload with `resident` holding memory; an unknown model
    /// fits (the start's own planning round decides then).
    public func fits(_ name: String, resident: Set<String>) -> Bool {
        guard let model = models[name] else { return true }
        guard let target = model.target else { return false }
        guard let placement = placement(of: name, resident: resident) else { return false }
        return placement.offloadedUnits >= target.offloadedUnits
    }

    /// Where `name` would go with `resident` holding memory; `nil` when it would not go at all.
    public func placement(of name: String, resident: Set<String>) -> Placement? {
        guard let model = models[name] else { return nil }
        let held = Planner.heldBytes(
            by: resident.filter { $0 != name }.compactMap {
                running[$0] ?? models[$0]?.target.map { HeldPlacement(placement: $0) }
            },
            hostID: devices.first(where: \.isHost)?.id)
        var available = devices
        for index in available.indices {
            available[index].freeBytes = available[index].freeBytes.subtractingClamped(held[available[index].id] ?? 0)
        }
        return placer.place([model.request], on: available, heldBytes: held).placements.first
    }
}
