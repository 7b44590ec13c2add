import OrchestratorCore
import Scheduler
import Testing

/// Memory a running instance holds counts at what it measured, once known, device by device.
struct HeldPlacementTests {
    static let placement = Placement(
        instance: "a", mode: .multiGPU,
        shares: [
            DeviceShare(
                deviceID: "gpu-0", llamaName: "Vulkan0", firstBlock: 0, blockCount: 4, holdsOutput: false,
                bytes: 1000 << 20),
            DeviceShare(
                deviceID: "gpu-1", llamaName: "Vulkan1", firstBlock: 4, blockCount: 4, holdsOutput: true,
                bytes: 800 << 20),
        ],
        offloadedBlocks: 8, offloadsOutput: true, blockCount: 8, hostBytes: 300 << 20, reasons: [])

    static let measured = MeasuredAllocation(
        buffers: [
            .init(name: "Vulkan0", kind: .model, bytes: 900 << 20),
            .init(name: "Vulkan0", kind: .compute, bytes: 300 << 20),
            .init(name: "Vulkan1", kind: .model, bytes: 700 << 20),
            .init(name: "CPU_Mapped", kind: .model, bytes: 200 << 20),
            .init(name: "Vulkan_Host", kind: .compute, bytes: 50 << 20),
        ], source: "server log")

    @Test func estimateUntilMeasured() {
        let held = Planner.heldBytes(by: [HeldPlacement(placement: Self.placement)], hostID: "host")
        #expect(held == ["gpu-0": 1000 << 20, "gpu-1": 800 << 20, "host": 300 << 20])
    }

    @Test func measuredOnceKnownPerDevice() {
        let held = Planner.heldBytes(
            by: [HeldPlacement(placement: Self.placement, measured: Self.measured)], hostID: "host")
        #expect(held == ["gpu-0": 1200 << 20, "gpu-1": 700 << 20, "host": 250 << 20])
    }

    @Test func runsCarryTheirMeasurement() {
        let run = RunInfo(
            instance: "a", runID: "r", pid: 1, processGroup: 1, processStartTime: 1, port: 1, argv: [],
            environment: [:], placement: Self.placement, startedAt: 0, measured: Self.measured)
        #expect(
            PlanningRound.placements(of: [run]) == [HeldPlacement(placement: Self.placement, measured: Self.measured)])
    }

    @Test func moreThanTenPercentOverIsAnExcess() {
        let excesses = AllocationCheck.excesses(Self.placement, Self.measured)
        #expect(excesses == [AllocationExcess(device: "Vulkan0", estimated: 1000 << 20, measured: 1200 << 20)])
        #expect(
            AllocationCheck.describe(excesses[0]).contains("1200.00 MiB against an estimate of 1000.00 MiB (20 % over"))
    }
}
