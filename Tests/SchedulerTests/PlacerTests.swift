import OrchestratorCore
import Scheduler
import TestSupport
import Testing

let mib: UInt64 = 1 << 20
let gib: UInt64 = 1 << 30

func gpu(_ index: Int, _ totalMiB: UInt64, free freeMiB: UInt64? = nil, kind: DeviceKind = .discrete) -> Device {
    Device(
        id: "gpu-\(index)", backend: "static", llamaName: "Vulkan\(index)", description: "GPU \(index)", kind: kind,
        totalBytes: totalMiB * mib, freeBytes: (freeMiB ?? totalMiB) * mib)
}

func host(_ totalMiB: UInt64, free freeMiB: UInt64? = nil) -> Device {
    Device(
        id: "host", backend: "cpu", llamaName: nil, description: "host memory", kind: .cpu, totalBytes: totalMiB * mib,
        freeBytes: (freeMiB ?? totalMiB) * mib)
}

/// A model of `blocks` equal blocks of `blockMiB`, an output layer and fixed parts.
func demand(
    _ name: String, blocks: Int = 32, blockMiB: UInt64 = 100, outputMiB: UInt64 = 300, perDeviceMiB: UInt64 = 200,
    hostMiB: UInt64 = 250
) -> InstanceDemand {
    InstanceDemand(
        name: name, blockBytes: Array(repeating: blockMiB * mib, count: blocks), outputBytes: outputMiB * mib,
        perDeviceBytes: perDeviceMiB * mib, hostBaseBytes: hostMiB * mib,
        hostBlockBytes: [blockMiB * mib + 100 * mib] + Array(repeating: blockMiB * mib, count: max(0, blocks - 1)),
        kvBytesPerCell: 128 * 1024, contextSize: 8192)
}

@Suite struct PlacerTests {
    let placer = Placer()

    @Test func oneGPUWhenItFitsWithinTheHeadroom() throws {
        // 32 × 100 + 300 + 200 = 3700 MiB; headroom on 8 GiB is 819 MiB.
        let plan = placer.place([PlacementRequest(demand: demand("a"))], on: [gpu(0, 8192), host(32768)])
        let placement = try #require(plan.placements.first)
        #expect(placement.mode == .singleGPU)
        #expect(placement.isFullOffload)
        #expect(placement.shares.map(\.deviceID) == ["gpu-0"])
        #expect(placement.shares[0].bytes == 3700 * mib)
        #expect(placement.hostBytes == 250 * mib)
        #expect(plan.refusals.isEmpty)
    }

    @Test func packPicksTheTightestFitAndSpreadTheRoomiest() throws {
        let devices = [gpu(0, 24576), gpu(1, 6144), host(65536)]
        let packed = Placer(policy: .init(strategy: .pack)).place([PlacementRequest(demand: demand("a"))], on: devices)
        #expect(packed.placements.first?.shares.map(\.deviceID) == ["gpu-1"])
        let spread = Placer(policy: .init(strategy: .spread)).place(
            [PlacementRequest(demand: demand("a"))], on: devices)
        #expect(spread.placements.first?.shares.map(\.deviceID) == ["gpu-0"])
    }

    @Test func fewestGPUsWhenNoneHoldsItAlone() throws {
        // 64 × 100 + 300 = 6700 MiB of layers; four 3 GiB GPUs (2765 MiB after headroom, 2565 for layers).
        let devices = [gpu(0, 3072), gpu(1, 3072), gpu(2, 3072), gpu(3, 3072), host(65536)]
        let plan = placer.place([PlacementRequest(demand: demand("big", blocks: 64))], on: devices)
        let placement = try #require(plan.placements.first)
        #expect(placement.mode == .multiGPU)
        #expect(placement.shares.count == 3)
        #expect(placement.shares.reduce(0) { $0 + $1.blockCount } == 64)
        #expect(placement.shares.last?.holdsOutput == true)
        for share in placement.shares { #expect(share.bytes <= 2765 * mib) }
    }

    @Test func partialOffloadThenCPU() throws {
        let plan = placer.place([PlacementRequest(demand: demand("a"))], on: [gpu(0, 2048), host(16384)])
        let placement = try #require(plan.placements.first)
        #expect(placement.mode == .partialOffload)
        #expect(placement.offloadsOutput)  // newer builds offload the output layer first
        #expect(placement.offloadedBlocks > 0 && placement.offloadedBlocks < 32)
        #expect(placement.shares[0].bytes <= (2048 - 204) * mib)
        let cpu = placer.place([PlacementRequest(demand: demand("a"))], on: [host(16384)])
        #expect(cpu.placements.first?.mode == .cpuOnly)
        #expect(cpu.placements.first?.hostBytes == (250 + 3500 + 100) * mib)
    }

    @Test func olderBuildsOffloadBlocksBeforeTheOutputLayer() throws {
        let plan = Placer(offloadOrder: .outputLast).place(
            [PlacementRequest(demand: demand("a"))], on: [gpu(0, 2048), host(16384)])
        let placement = try #require(plan.placements.first)
        #expect(placement.mode == .partialOffload)
        #expect(!placement.offloadsOutput)
        #expect(placement.hostBytes >= 300 * mib + 250 * mib)
    }

    @Test func integratedBesideDiscreteAndCPUTypeSkippedUnlessPinned() throws {
        let devices = [gpu(0, 2048, kind: .integrated), gpu(1, 8192), gpu(2, 16384, kind: .cpu), host(32768)]
        let plan = placer.place([PlacementRequest(demand: demand("a"))], on: devices)
        #expect(plan.placements.first?.shares.map(\.deviceID) == ["gpu-1"])
        #expect(plan.placements.first?.reasons.contains { $0.contains("CPU-type devices") } == true)
        let pinned = placer.place([PlacementRequest(demand: demand("a"), pinnedDevices: [.index(2)])], on: devices)
        #expect(pinned.placements.first?.shares.map(\.deviceID) == ["gpu-2"])
    }

    @Test func pinsAreHonouredOrRefused() throws {
        let devices = [gpu(0, 24576), gpu(1, 8192), host(32768)]
        let byName = placer.place(
            [PlacementRequest(demand: demand("a"), pinnedDevices: [.name("Vulkan1")])], on: devices)
        #expect(byName.placements.first?.shares.map(\.deviceID) == ["gpu-1"])
        let missing = placer.place([PlacementRequest(demand: demand("a"), pinnedDevices: [.index(5)])], on: devices)
        #expect(missing.placements.isEmpty)
        #expect(missing.refusals.first?.reason.contains("'5' does not exist") == true)
        #expect(missing.refusals.first?.suggestions.first?.contains("0: Vulkan0") == true)
        let both = placer.place(
            [PlacementRequest(demand: demand("a", blocks: 8), pinnedDevices: [.index(0), .index(1)])], on: devices)
        #expect(both.placements.first?.shares.count == 2)
        #expect(both.placements.first?.mode == .multiGPU)
    }

    @Test func explicitLayerCountsFollowTheBuild() throws {
        let devices = [gpu(0, 8192), host(32768)]
        let newer = placer.place([PlacementRequest(demand: demand("a"), layers: .count(10))], on: devices)
        #expect(newer.placements.first?.offloadedBlocks == 9)
        #expect(newer.placements.first?.offloadsOutput == true)
        let older = Placer(offloadOrder: .outputLast).place(
            [PlacementRequest(demand: demand("a"), layers: .count(10))], on: devices)
        #expect(older.placements.first?.offloadedBlocks == 10)
        #expect(older.placements.first?.offloadsOutput == false)
        let none = placer.place([PlacementRequest(demand: demand("a"), layers: .count(0))], on: devices)
        #expect(none.placements.first?.mode == .cpuOnly)
    }

    @Test func heldMemoryCountsAndManyInstancesGoLargestFirst() throws {
        let devices = [gpu(0, 8192), host(65536)]
        let held = placer.place([PlacementRequest(demand: demand("a"))], on: devices, heldBytes: ["gpu-0": 5 * gib])
        #expect(held.placements.first?.mode == .partialOffload)
        let many = placer.place(
            [
                PlacementRequest(demand: demand("small", blocks: 8)),
                PlacementRequest(demand: demand("large", blocks: 40)),
            ],
            on: devices)
        #expect(many.placements.map(\.instance) == ["large", "small"])
        #expect(many.placements[0].mode == .singleGPU)
        // 8 GiB − 819 headroom − 4500 for large leaves 2873 MiB: the small one (1300) fits too.
        #expect(many.placements[1].mode == .singleGPU)
    }

    @Test func whatDoesNotFitIsRefusedWithNumbersAndSuggestions() throws {
        let plan = placer.place(
            [PlacementRequest(demand: demand("huge", blocks: 200))], on: [gpu(0, 4096), host(4096)])
        #expect(plan.placements.isEmpty)
        let refusal = try #require(plan.refusals.first)
        #expect(refusal.shortfalls.map(\.device).contains("host"))
        #expect(refusal.suggestions.contains { $0.contains("q8_0") })
        let allOnly = placer.place(
            [PlacementRequest(demand: demand("a"), layers: .all)], on: [gpu(0, 2048), host(65536)])
        #expect(allOnly.refusals.first?.suggestions.contains { $0.contains("gpu.layers") } == true)
        #expect(PlacementError(refusals: plan.refusals).exitCode == .placementImpossible)
    }
}

/// Properties over random inventories and models.
@Suite struct PlacementPropertyTests {
    @Test(arguments: 0..<300)
    func placementsRespectMemoryCoverEveryLayerAndAreDeterministic(seed: Int) throws {
        var random = SplitMix64(seed: UInt64(seed) &* 7919)
        var devices: [Device] = (0..<Int.random(in: 0...4, using: &random)).map { index in
            let total = UInt64.random(in: 1024...49152, using: &random)
            let kinds: [DeviceKind] = [.discrete, .discrete, .integrated, .cpu]
            return gpu(
                index, total, free: UInt64.random(in: total / 4...total, using: &random),
                kind: kinds.randomElement(using: &random)!)
        }
        devices.append(host(UInt64.random(in: 2048...131072, using: &random)))
        let held = Dictionary(
            uniqueKeysWithValues: devices.filter { _ in Bool.random(using: &random) }.map {
                ($0.id, UInt64.random(in: 0...2048, using: &random) * mib)
            })
        let requests = (0..<Int.random(in: 1...5, using: &random)).map { index -> PlacementRequest in
            let blocks = Int.random(in: 1...80, using: &random)
            let demandValue = InstanceDemand(
                name: "m\(index)",
                blockBytes: (0..<blocks).map { _ in UInt64.random(in: 1...600, using: &random) * mib },
                outputBytes: UInt64.random(in: 1...1200, using: &random) * mib,
                perDeviceBytes: UInt64.random(in: 0...800, using: &random) * mib,
                hostBaseBytes: UInt64.random(in: 0...1000, using: &random) * mib, kvBytesPerCell: 1024,
                contextSize: 4096)
            let gpuCount = devices.count - 1
            var pins: [DeviceSelector] = []
            if gpuCount > 0 && Int.random(in: 0..<5, using: &random) == 0 {
                pins = [.index(Int.random(in: 0..<gpuCount + 1, using: &random))]
            }
            let layerChoices: [LayerCount] = [
                .auto, .auto, .auto, .all, .count(Int.random(in: 0...blocks + 1, using: &random)),
            ]
            return PlacementRequest(
                demand: demandValue, pinnedDevices: pins, layers: layerChoices.randomElement(using: &random)!)
        }
        let policy = PlacementPolicy(strategy: Bool.random(using: &random) ? .pack : .spread)
        let placer = Placer(policy: policy, offloadOrder: Bool.random(using: &random) ? .outputFirst : .outputLast)
        let plan = placer.place(requests, on: devices, heldBytes: held)

        // Deterministic, whatever the order of the requests.
        #expect(placer.place(requests, on: devices, heldBytes: held) == plan)
        #expect(placer.place(requests.reversed(), on: devices, heldBytes: held) == plan)
        // Every request is placed or refused, once.
        #expect(Set(plan.placements.map(\.instance) + plan.refusals.map(\.instance)).count == requests.count)

        var used: [String: UInt64] = [:]
        for placement in plan.placements {
            let request = try #require(requests.first { $0.demand.name == placement.instance })
            let blocks = request.demand.blockCount
            // Every layer exactly once: GPU shares are contiguous up to the top, the rest is on the host.
            var next = blocks - placement.offloadedBlocks
            for share in placement.shares {
                #expect(share.firstBlock == next)
                next += share.blockCount
            }
            #expect(next == blocks)
            #expect(placement.shares.filter(\.holdsOutput).count == (placement.offloadsOutput ? 1 : 0))
            if placement.offloadsOutput { #expect(placement.shares.last?.holdsOutput == true) }
            #expect(placement.shares.reduce(0) { $0 + $1.blockCount } == placement.offloadedBlocks)
            for share in placement.shares { used[share.deviceID, default: 0] += share.bytes }
            used["host", default: 0] += placement.hostBytes
        }
        // No device gets more than its free memory minus headroom and what is held.
        for device in devices {
            let headroom = policy.headroom(forTotal: device.totalBytes)
            let afterHeld = device.totalBytes > (held[device.id] ?? 0) ? device.totalBytes - (held[device.id] ?? 0) : 0
            let room = min(device.freeBytes, afterHeld)
            let limit = room > headroom ? room - headroom : 0
            #expect((used[device.id] ?? 0) <= limit, "device \(device.id) over its limit")
        }
    }
}
