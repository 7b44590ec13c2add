import OrchestratorCore

/// Which layers `-ngl N` puts on the GPU: llama.cpp changed this during 2026.
public enum OffloadOrder: String, Sendable, Codable {
    /// Newer builds: the output layer goes first, so `-ngl 1` is the output head only and a partial
    /// offload always includes it.
    case outputFirst = "output-first"
    /// Older builds: `-ngl N` takes the last N blocks; the output layer follows only at N = blocks + 1.
    case outputLast = "output-last"
}

/// Decides where each instance goes: one GPU when it fits within the headroom, then the fewest GPUs,
/// then a partial offload with the rest in host memory, then the CPU; largest instances first.
///
/// Deterministic: the same requests, devices and held memory give the same plan. Pins from the config
/// are honoured or refused with the reason. Devices are llama.cpp offload targets (`llamaName` set);
/// the host entry (`Device.isHost`) stands for host memory.
public struct Placer: Sendable {
    public var policy: PlacementPolicy
    public var offloadOrder: OffloadOrder

    public init(policy: PlacementPolicy = PlacementPolicy(), offloadOrder: OffloadOrder = .outputFirst) {
        self.policy = policy
        self.offloadOrder = offloadOrder
    }

    /// Places every request onto `devices`, after `heldBytes` (device id → bytes held by running instances).
    public func place(
        _ requests: [PlacementRequest], on devices: [Device], heldBytes: [String: UInt64] = [:]
    )
        -> PlacementPlan
    {
        var ledger = Ledger(devices: devices, held: heldBytes, policy: policy)
        let ordered = requests.enumerated().sorted { left, right in
            let (a, b) = (left.element.demand, right.element.demand)
            if a.fullOffloadBytes != b.fullOffloadBytes { return a.fullOffloadBytes > b.fullOffloadBytes }
            if a.name != b.name { return a.name < b.name }
            return left.offset < right.offset
        }
        var placements: [Placement] = []
        var refusals: [PlacementRefusal] = []
        for (_, request) in ordered {
            switch placeOne(request, ledger: ledger) {
            case .success(let placement):
                ledger.commit(placement)
                placements.append(placement)
            case .failure(let refusal):
                refusals.append(refusal)
            }
        }
        return PlacementPlan(placements: placements, refusals: refusals)
    }

    // MARK: One instance

    private func placeOne(_ request: PlacementRequest, ledger: Ledger) -> Result<Placement, PlacementRefusal> {
        let demand = request.demand
        var reasons: [String] = []
        let gpus = ledger.gpus
        // Candidates: the pinned devices, or every GPU llama.cpp would choose by itself.
        var candidates: [Int]
        var splitAcrossAllPins = false
        if request.pinnedDevices.isEmpty {
            candidates = gpus.indices.filter { gpus[$0].device.kind != .cpu }
            let skipped = gpus.filter { $0.device.kind == .cpu }.map { $0.label }
            if !skipped.isEmpty {
                reasons.append(
                    "skipped \(skipped.joined(separator: ", ")): CPU-type devices are used only when pinned (gpu.device_id)"
                )
            }
        } else {
            candidates = []
            for selector in request.pinnedDevices {
                guard let index = ledger.resolve(selector) else {
                    let known = gpus.enumerated().map { "\($0.offset): \($0.element.label)" }.joined(separator: ", ")
                    return .failure(
                        PlacementRefusal(
                            instance: demand.name, reason: "pinned device '\(selector)' does not exist",
                            shortfalls: [],
                            suggestions: [
                                known.isEmpty
                                    ? "no GPU was found; remove gpu.device_id / gpu.devices to run on the CPU"
                                    : "pin one of: \(known)"
                            ]))
                }
                if !candidates.contains(index) { candidates.append(index) }
            }
            splitAcrossAllPins = request.pinnedDevices.count > 1
            reasons.append("pinned to \(candidates.map { gpus[$0].label }.joined(separator: ", "))")
        }

        switch request.layers {
        case .count(0):
            reasons.append("gpu.layers is 0: CPU only")
            return cpuOnly(demand, ledger: ledger, reasons: reasons, why: "gpu.layers is 0")
        case .count(let units) where units < demand.blockCount + 1:
            let (blocks, output) = split(units: units, blockCount: demand.blockCount)
            reasons.append("gpu.layers is \(units): \(blocks) blocks\(output ? " and the output layer" : "") on GPU")
            for count in (splitAcrossAllPins ? [candidates.count] : Array(1...max(1, candidates.count))) {
                let chosen = choose(count, from: candidates, ledger: ledger, need: 0)
                if !chosen.isEmpty,
                    let shares = distribute(demand, blocks: blocks, output: output, over: chosen, ledger: ledger),
                    let placement = finish(demand, shares, ledger: ledger, reasons: reasons)
                {
                    return .success(placement)
                }
            }
            return .failure(
                refusal(
                    demand, candidates: candidates, ledger: ledger, reason: "the \(units) requested layers don't fit",
                    allowPartial: false))
        default:
            break
        }

        // Full offload: one GPU, then the fewest GPUs.
        if !candidates.isEmpty {
            let counts = splitAcrossAllPins ? [candidates.count] : Array(1...candidates.count)
            for count in counts {
                let chosen = choose(count, from: candidates, ledger: ledger, need: demand.fullOffloadBytes)
                guard chosen.count == count else { continue }
                if let shares = distribute(
                    demand, blocks: demand.blockCount, output: true, over: chosen, ledger: ledger),
                    let placement = finish(demand, shares, ledger: ledger, reasons: reasons)
                {
                    return .success(placement)
                }
                if count == 1 && !splitAcrossAllPins {
                    let best = chosen.first.map { ledger.gpus[$0] }
                    reasons.append(
                        "no single GPU holds all \(formatBytes(demand.fullOffloadBytes))"
                            + (best.map { " (largest room: \($0.label) with \(formatBytes($0.available)))" } ?? ""))
                }
            }
            if candidates.count > 1 { reasons.append("the GPUs together can't hold the whole model") }
        } else {
            reasons.append("no GPU to offload to")
        }
        if case .all = request.layers {
            return .failure(
                refusal(
                    demand, candidates: candidates, ledger: ledger,
                    reason: "gpu.layers is all but the model doesn't fit on the GPUs", allowPartial: true))
        }

        // Partial offload: as many layers from the top as the GPUs hold, the rest in host memory.
        if !candidates.isEmpty {
            let ordered = candidates.sorted()
            let maxUnits = demand.blockCount + 1
            for units in stride(from: maxUnits - 1, through: 1, by: -1) {
                let (blocks, output) = split(units: units, blockCount: demand.blockCount)
                guard
                    let shares = distribute(
                        demand, blocks: blocks, output: output, over: Array(ordered), ledger: ledger)
                else { continue }
                let usedShares = shares.filter { $0.blockCount > 0 || $0.holdsOutput }
                if let placement = finish(demand, usedShares, ledger: ledger, reasons: reasons) {
                    return .success(placement)
                }
                break  // Fewer layers on the GPU only need more host memory.
            }
        }
        return cpuOnly(demand, ledger: ledger, reasons: reasons, why: "nothing fits on a GPU")
    }

    /// `units` layer units from the top as (blocks, output) under this build's `-ngl` meaning.
    func split(units: Int, blockCount: Int) -> (blocks: Int, output: Bool) {
        if units >= blockCount + 1 { return (blockCount, true) }
        switch offloadOrder {
        case .outputFirst: return (max(0, units - 1), units >= 1)
        case .outputLast: return (min(units, blockCount), false)
        }
    }

    /// The `count` candidates to use, by policy; for a single device only those with `need` bytes free.
    private func choose(_ count: Int, from candidates: [Int], ledger: Ledger, need: UInt64) -> [Int] {
        let byRoom = candidates.sorted { (ledger.gpus[$0].available, -$0) > (ledger.gpus[$1].available, -$1) }
        if count == 1 {
            let fitting = byRoom.filter { ledger.gpus[$0].available >= need }
            switch policy.strategy {
            case .spread: return fitting.first.map { [$0] } ?? []
            case .pack: return fitting.last.map { [$0] } ?? []
            }
        }
        return Array(byRoom.prefix(count)).sorted()
    }

    /// Splits the top `blocks` blocks (and the output layer) over `devices` in order, each device's share
    /// proportional to its room; `nil` when they don't fit.
    private func distribute(
        _ demand: InstanceDemand, blocks: Int, output: Bool, over devices: [Int], ledger: Ledger
    )
        -> [DeviceShare]?
    {
        guard !devices.isEmpty else { return blocks == 0 && !output ? [] : nil }
        var units: [UInt64] = Array(demand.blockBytes.suffix(blocks))
        if output { units.append(demand.outputBytes) }
        let capacities = devices.map { ledger.gpus[$0].available.subtractingClamped(demand.perDeviceBytes) }
        let totalCapacity = capacities.reduce(0, +)
        let totalNeed = units.reduce(0, +)
        guard totalNeed <= totalCapacity else { return nil }
        var shares: [DeviceShare] = []
        var unitIndex = 0
        var assignedSoFar: UInt64 = 0
        var capacitySoFar: UInt64 = 0
        let firstBlock = demand.blockCount - blocks
        for (position, deviceIndex) in devices.enumerated() {
            capacitySoFar += capacities[position]
            let isLast = position == devices.count - 1
            // This device's cumulative target: its proportional part of what is needed.
            let target =
                isLast ? UInt64.max : UInt64(Double(totalNeed) * Double(capacitySoFar) / Double(max(1, totalCapacity)))
            var bytes: UInt64 = 0
            let start = unitIndex
            while unitIndex < units.count {
                let unit = units[unitIndex]
                let fitsHere = bytes + unit <= capacities[position]
                let underTarget = assignedSoFar + unit / 2 <= target
                if fitsHere && (underTarget || isLast) {
                    bytes += unit
                    assignedSoFar += unit
                    unitIndex += 1
                } else {
                    break
                }
            }
            let assigned = unitIndex - start
            let holdsOutput = output && unitIndex == units.count && assigned > 0 && start + assigned == units.count
            let blockShare = holdsOutput ? assigned - 1 : assigned
            let gpu = ledger.gpus[deviceIndex]
            shares.append(
                DeviceShare(
                    deviceID: gpu.device.id, llamaName: gpu.device.llamaName,
                    firstBlock: firstBlock + start, blockCount: blockShare, holdsOutput: holdsOutput,
                    bytes: assigned > 0 ? bytes + demand.perDeviceBytes : 0))
        }
        guard unitIndex == units.count else { return nil }
        return shares
    }

    /// Checks the host side and builds the placement.
    private func finish(
        _ demand: InstanceDemand, _ shares: [DeviceShare], ledger: Ledger, reasons: [String]
    )
        -> Placement?
    {
        let used = shares.filter { $0.bytes > 0 }
        let blocks = used.reduce(0) { $0 + $1.blockCount }
        let output = used.contains { $0.holdsOutput }
        let onHost =
            demand.blockBytes.prefix(demand.blockCount - blocks).reduce(0, +) + (output ? 0 : demand.outputBytes)
        let hostBytes = demand.hostBaseBytes + onHost
        guard ledger.hostFits(hostBytes) else { return nil }
        var reasons = reasons
        let mode: PlacementMode
        if blocks == demand.blockCount && output {
            mode = used.count == 1 ? .singleGPU : .multiGPU
            if mode == .singleGPU {
                let gpu = ledger.gpus.first { $0.device.id == used[0].deviceID }
                reasons.append(
                    "\(gpu?.label ?? used[0].deviceID) holds it all: needs \(formatBytes(used[0].bytes)), "
                        + "\(formatBytes(gpu?.available ?? 0)) available after headroom\(policy.strategy == .pack ? " (pack: the tightest fit)" : " (spread: the most room)")"
                )
            } else {
                reasons.append(
                    "split over \(used.count) GPUs: "
                        + used.map {
                            "\($0.llamaName ?? $0.deviceID) \($0.blockCount + ($0.holdsOutput ? 1 : 0)) layers, \(formatBytes($0.bytes))"
                        }
                        .joined(separator: "; "))
            }
        } else {
            mode = .partialOffload
            reasons.append(
                "partial offload: \(blocks + (output ? 1 : 0)) of \(demand.blockCount + 1) layers on "
                    + used.map { $0.llamaName ?? $0.deviceID }.joined(separator: ", ")
                    + ", \(formatBytes(hostBytes)) in host memory")
        }
        return Placement(
            instance: demand.name, mode: mode, shares: used, offloadedBlocks: blocks, offloadsOutput: output,
            blockCount: demand.blockCount, hostBytes: hostBytes, reasons: reasons)
    }

    private func cpuOnly(
        _ demand: InstanceDemand, ledger: Ledger, reasons: [String], why: String
    )
        -> Result<Placement, PlacementRefusal>
    {
        let hostBytes = demand.cpuOnlyHostBytes
        guard ledger.hostFits(hostBytes) else {
            return .failure(
                refusal(
                    demand, candidates: [], ledger: ledger, reason: "\(why), and host memory is too small too",
                    allowPartial: false))
        }
        var reasons = reasons
        reasons.append(
            "CPU only: \(formatBytes(hostBytes)) in host memory (\(formatBytes(ledger.hostAvailable ?? 0)) available)")
        return .success(
            Placement(
                instance: demand.name, mode: .cpuOnly, shares: [], offloadedBlocks: 0, offloadsOutput: false,
                blockCount: demand.blockCount, hostBytes: hostBytes, reasons: reasons))
    }

    private func refusal(
        _ demand: InstanceDemand, candidates: [Int], ledger: Ledger, reason: String, allowPartial: Bool
    )
        -> PlacementRefusal
    {
        var shortfalls = candidates.map {
            PlacementRefusal.Shortfall(
                device: ledger.gpus[$0].label, neededBytes: demand.fullOffloadBytes,
                availableBytes: ledger.gpus[$0].available)
        }
        if let host = ledger.hostAvailable {
            shortfalls.append(
                .init(
                    device: "host", neededBytes: demand.cpuOnlyHostBytes,
                    availableBytes: host))
        }
        var suggestions: [String] = []
        let bestRoom = candidates.map { ledger.gpus[$0].available }.max() ?? ledger.hostAvailable ?? 0
        let target =
            candidates.isEmpty
            ? demand.cpuOnlyHostBytes : demand.fullOffloadBytes
        if demand.kvBytesPerCell > 0 && target > bestRoom {
            let excess = target - bestRoom
            let cellsToDrop = (excess + demand.kvBytesPerCell - 1) / demand.kvBytesPerCell
            let context = (demand.contextSize - Int(cellsToDrop)) / 256 * 256
            if context >= 256 {
                suggestions.append(
                    "model.context_size: \(context) (the KV cache shrinks by \(formatBytes(UInt64(demand.contextSize - context) * demand.kvBytesPerCell)))"
                )
            }
            suggestions.append(
                "model.cache_type_k and cache_type_v: q8_0 (about half the KV cache; needs flash attention)")
        }
        suggestions.append("server.parallel: fewer slots (smaller compute and output buffers)")
        if allowPartial {
            suggestions.append("gpu.layers: auto or a number, to allow a partial offload with the rest in host memory")
        }
        return PlacementRefusal(instance: demand.name, reason: reason, shortfalls: shortfalls, suggestions: suggestions)
    }
}

/// Room left on each device while a plan is built.
struct Ledger {
    struct GPU {
        var device: Device
        var available: UInt64
        var label: String { device.llamaName.map { "\($0) (\(device.description))" } ?? device.description }
    }

    var gpus: [GPU]
    var hostAvailable: UInt64?
    var hostID: String?

    init(devices: [Device], held: [String: UInt64], policy: PlacementPolicy) {
        func room(_ device: Device) -> UInt64 {
            let afterHeld = device.totalBytes.subtractingClamped(held[device.id] ?? 0)
            return min(device.freeBytes, afterHeld).subtractingClamped(policy.headroom(forTotal: device.totalBytes))
        }
        gpus = devices.filter { !$0.isHost }.map { GPU(device: $0, available: room($0)) }
        if let host = devices.first(where: { $0.isHost }) {
            hostAvailable = room(host)
            hostID = host.id
        }
    }

    /// The GPU a config selector names (see `DeviceSelection`).
    func resolve(_ selector: DeviceSelector) -> Int? {
        DeviceSelection.index(of: selector, in: gpus.map(\.device))
    }

    /// Unknown host memory (no host entry in the inventory) is not a limit.
    func hostFits(_ bytes: UInt64) -> Bool { hostAvailable.map { bytes <= $0 } ?? true }

    mutating func commit(_ placement: Placement) {
        for share in placement.shares {
            if let index = gpus.firstIndex(where: { $0.device.id == share.deviceID }) {
                gpus[index].available = gpus[index].available.subtractingClamped(share.bytes)
            }
        }
        if let host = hostAvailable { hostAvailable = host.subtractingClamped(placement.hostBytes) }
    }
}

extension UInt64 {
    /// `self - other`, or 0 when `other` is larger.
    public func subtractingClamped(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}

/// How `gpu.device_id` and `gpu.devices` name devices.
public enum DeviceSelection {
    /// The position in `gpus` (the offload targets, host excluded) that `selector` names: an index into that
    /// list, or a llama.cpp name, id, description, PCI bus id or UUID (case-insensitive).
    public static func index(of selector: DeviceSelector, in gpus: [Device]) -> Int? {
        switch selector {
        case .index(let index): return gpus.indices.contains(index) ? index : nil
        case .name(let name):
            let lowered = name.lowercased()
            return gpus.firstIndex {
                $0.llamaName?.lowercased() == lowered || $0.id.lowercased() == lowered
                    || $0.description.lowercased() == lowered || $0.pciBusID?.lowercased() == lowered
                    || $0.uuid?.lowercased() == lowered
            }
        }
    }
}
