import ControlAPI
import Foundation
import OrchestratorCore
import Testing

@testable import Daemon

/// The control API's typed status: the same JSON strings as before the enums, and the projection's words.
@Suite struct InstanceStatusTests {
    @Test func everySupervisorStateIsAStatusStateOfTheSameName() {
        for state in InstanceState.allCases {
            #expect(InstanceStatus.State(state).rawValue == state.rawValue)
            #expect(InstanceStatus.State(state).instanceState == state)
        }
        #expect(InstanceStatus.State.queued.instanceState == nil)
        #expect(InstanceStatus.State.invalid.instanceState == nil)
    }

    @Test func theWireKeepsItsStrings() throws {
        let status = InstanceStatus(name: "a", state: .queued, desiredState: .running, health: .notRunning)
        let data = try JSONEncoder.control.encode(status)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["state"] as? String == "queued")
        #expect(object["desired_state"] as? String == "running")
        #expect(object["health"] as? String == "-")
        #expect(try JSONDecoder().decode(InstanceStatus.self, from: data) == status)
    }

    @Test func healthReadsFromTheSupervisorState() {
        let expected: [InstanceState: InstanceStatus.Health] = [
            .starting: .starting, .loading: .starting, .restarting: .starting, .healthy: .healthy,
            .unhealthy: .unhealthy, .stopped: .notRunning, .failed: .notRunning,
        ]
        for state in InstanceState.allCases { #expect(InstanceStatusProjection.health(state) == expected[state]) }
    }

    @Test func aSupervisedInstanceShowsItsRunsPlacement() {
        let placement = Placement(
            instance: "a", mode: .multiGPU,
            shares: [
                DeviceShare(
                    deviceID: "v:0", llamaName: "Vulkan0", firstBlock: 0, blockCount: 2, holdsOutput: false, bytes: 1),
                DeviceShare(deviceID: "v:1", llamaName: nil, firstBlock: 2, blockCount: 2, holdsOutput: true, bytes: 1),
            ], offloadedBlocks: 4, offloadsOutput: true, blockCount: 4, hostBytes: 0, reasons: [])
        let run = RunInfo(
            instance: "a", runID: "r", pid: 42, processGroup: 42, processStartTime: 1, port: 8001, argv: [],
            environment: [:], placement: placement, backend: "vulkan", startedAt: 1)
        let status = InstanceStatusProjection.supervised(
            "a", state: .loading, run: run, config: nil, backend: "cpu", desired: .running, restarts: 2, last: nil)
        #expect(status.state == .loading && status.health == .starting && status.pid == 42 && status.port == 8001)
        #expect(status.backend == "vulkan", "the run's backend, not the entry's")
        #expect(status.devices == "Vulkan0,v:1")
        let cpu = InstanceStatusProjection.supervised(
            "a", state: .stopped, run: nil, config: nil, backend: "cpu", desired: .stopped, restarts: 0, last: nil)
        #expect(cpu.backend == "cpu" && cpu.devices == nil && cpu.health == .notRunning)
    }
}
