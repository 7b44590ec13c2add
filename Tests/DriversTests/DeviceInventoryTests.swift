import Drivers
import Foundation
import OrchestratorCore
import TestSupport
import Testing

/// Canned drivers for the auto chain: a lavapipe-only `vulkan`, a GPU `vulkan`, and so on.
private func gpu(_ backend: String, _ name: String) -> Device {
    Device(
        id: "\(backend):\(name)", backend: backend, llamaName: name, description: "\(name) GPU", kind: .discrete,
        totalBytes: 8 << 30, freeBytes: 8 << 30)
}

private struct LavapipeOnlyVulkan: BackendDriver {
    static let name = "vulkan"
    static let summary = "test"
    init(context: DriverContext) {}
    func probe() async -> DriverProbe {
        .available([
            Device(
                id: "lvp", backend: "vulkan", llamaName: nil, description: "llvmpipe", kind: .cpu, totalBytes: 1 << 31,
                freeBytes: 1 << 31, rawIndex: 0)
        ])
    }
}

private struct GPUVulkan: BackendDriver {
    static let name = "vulkan"
    static let summary = "test"
    init(context: DriverContext) {}
    func probe() async -> DriverProbe { .available([gpu("vulkan", "Vulkan0")]) }
}

private struct MissingVulkan: BackendDriver {
    static let name = "vulkan"
    static let summary = "test"
    init(context: DriverContext) {}
    func probe() async -> DriverProbe { .unavailable(.init(.missingDependency, "no Vulkan loader (libvulkan.so.1)")) }
}

private struct GPUFallback: BackendDriver {
    static let name = "fallback"
    static let summary = "test"
    init(context: DriverContext) {}
    func probe() async -> DriverProbe { .available([gpu("fallback", "CUDA0")]) }
}

private struct HostOnlyFallback: BackendDriver {
    static let name = "fallback"
    static let summary = "test"
    init(context: DriverContext) {}
    func probe() async -> DriverProbe { .available([FakeCPU.host]) }
}

private struct FakeCPU: BackendDriver {
    static let name = "cpu"
    static let summary = "test"
    static let host = Device(
        id: "host", backend: "cpu", llamaName: nil, description: "host", kind: .cpu, totalBytes: 1 << 34,
        freeBytes: 1 << 33)
    init(context: DriverContext) {}
    func probe() async -> DriverProbe { .available([Self.host]) }
}

@Suite struct DeviceInventoryTests {
    func discover(_ backend: String, _ drivers: [any BackendDriver.Type]) async throws -> Inventory {
        try await DeviceInventory.discover(
            backend: backend, registry: DriverRegistry(drivers: drivers), context: DriverContext())
    }

    @Test func autoPassesOverLavapipeToTheHost() async throws {
        let inventory = try await discover("auto", [LavapipeOnlyVulkan.self, HostOnlyFallback.self, FakeCPU.self])
        #expect(inventory.backend == "cpu")
        #expect(inventory.devices == [FakeCPU.host])
        #expect(inventory.passedOver.map(\.name) == ["vulkan", "fallback"])
    }

    @Test func autoTakesTheFirstDriverWithAGPUAndAddsTheHost() async throws {
        let vulkan = try await discover("auto", [GPUVulkan.self, GPUFallback.self, FakeCPU.self])
        #expect(vulkan.backend == "vulkan")
        #expect(vulkan.devices.map(\.id) == ["vulkan:Vulkan0", "host"])
        #expect(vulkan.passedOver.isEmpty)
        #expect(vulkan.launchSettings(for: vulkan.devices).deviceNames == ["Vulkan0"])

        let fallback = try await discover("auto", [MissingVulkan.self, GPUFallback.self, FakeCPU.self])
        #expect(fallback.backend == "fallback")
        #expect(fallback.devices.map(\.id) == ["fallback:CUDA0", "host"])
        #expect(fallback.passedOver.first?.probe.unavailableReason?.message == "no Vulkan loader (libvulkan.so.1)")
    }

    @Test func anExplicitBackendIsUsedEvenWithoutAGPU() async throws {
        let inventory = try await discover("vulkan", [LavapipeOnlyVulkan.self, FakeCPU.self])
        #expect(inventory.devices.map(\.id) == ["lvp", "host"])
    }

    @Test func unknownAndUnavailableBackendsAreErrors() async throws {
        await #expect {
            try await discover("nvidia", [GPUVulkan.self, FakeCPU.self])
        } throws: { error in
            let error = try #require(error as? RegistryError)
            return error.exitCode == .driverUnavailable
                && error.description == "unknown driver 'nvidia'; known: vulkan, cpu"
        }
        await #expect {
            try await discover("vulkan", [MissingVulkan.self, FakeCPU.self])
        } throws: { error in
            let error = try #require(error as? DriverUnavailableError)
            return error.exitCode == .driverUnavailable
                && error.description == "driver 'vulkan' is unavailable: no Vulkan loader (libvulkan.so.1)"
        }
    }

    @Test func builtInRegistryHasTheFourDrivers() {
        let names = DriverCatalog.registry().names
        #expect(Set(["cpu", "fallback", "static", "vulkan"]).isSubset(of: Set(names)))
        #expect(names == names.sorted())
    }

    @Test func realDriversHereListTheHostAndLavapipe() async throws {
        let registry = DriverCatalog.registry()
        let context = DriverContext(environment: ["PATH": "/nonexistent"])
        let auto = try await DeviceInventory.discover(backend: "auto", registry: registry, context: context)
        #expect(auto.devices.filter(\.isHost).count == 1)
        if !auto.devices.contains(where: \.isUsableGPU) { #expect(auto.backend == "cpu") }
        let vulkan = try await DeviceInventory.discover(backend: "vulkan", registry: registry, context: context)
        #expect(vulkan.devices.contains { $0.description.hasPrefix("llvmpipe") && $0.kind == .cpu && !$0.isHost })
        #expect(vulkan.devices.last?.isHost == true)
        let lavapipe = vulkan.devices.filter { $0.description.hasPrefix("llvmpipe") }
        let settings = vulkan.launchSettings(for: lavapipe + vulkan.devices.filter(\.isHost))
        #expect(settings.deviceNames == ["Vulkan0"])
        #expect(
            settings.environment == [
                "GGML_VK_VISIBLE_DEVICES": lavapipe.compactMap(\.rawIndex).map(String.init).joined()
            ])
    }

    @Test func staticInventoryGetsTheRealHostUnlessItHasOne() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let registry = DriverCatalog.registry()
        let gpus = try folder.write(
            "gpus.json",
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 24576}, {"name": "B", "kind": "discrete", "total_mib": 12288}]}"#
        )
        let planned = try await DeviceInventory.discover(
            backend: "static", registry: registry, context: DriverContext(devicesFile: gpus))
        #expect(planned.devices.map(\.description).prefix(2) == ["A", "B"])
        #expect(planned.devices.last?.backend == "cpu" && planned.devices.last?.isHost == true)

        let withHost = try folder.write(
            "with-host.json",
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 24576}, {"name": "big", "kind": "cpu", "total_mib": 524288}]}"#
        )
        let own = try await DeviceInventory.discover(
            backend: "static", registry: registry, context: DriverContext(devicesFile: withHost))
        #expect(own.devices.map(\.description) == ["A", "big"])

        let bad = try folder.write("bad.json", #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": "abc"}]}"#)
        await #expect {
            try await DeviceInventory.discover(
                backend: "static", registry: registry, context: DriverContext(devicesFile: bad))
        } throws: { error in
            let error = try #require(error as? DriverUnavailableError)
            return error.exitCode == .configInvalid && error.description.contains("devices[0].total_mib")
        }
    }

    @Test func aDevicesFileWithoutABackendMeansStatic() {
        #expect(DeviceInventory.backend(requested: nil, devicesFileOption: nil) == "auto")
        #expect(DeviceInventory.backend(requested: nil, devicesFileOption: "f.json") == "static")
        #expect(DeviceInventory.backend(requested: "vulkan", devicesFileOption: "f.json") == "vulkan")
    }
}

/// The real `llama-orch devices` with planned hardware from a file.
extension SpawningProcesses {
    @Suite struct DevicesCommandTests {
        @Test func listsPlannedHardwareAndRefusesABadFile() throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let planned = try folder.write(
                "planned.json",
                #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 24576, "llama_name": "CUDA0"}, {"name": "B", "kind": "discrete", "total_mib": 12288, "llama_name": "CUDA1"}]}"#
            )
            let binary = try llamaOrchBinary()
            let run = try #require(runProgram(binary, ["devices", "--devices-file", planned, "--json"]))
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect(json["backend"] as? String == "static")
            let devices = try #require(json["devices"] as? [[String: Any]])
            #expect(devices.compactMap { $0["llama_name"] as? String } == ["CUDA0", "CUDA1"])
            #expect(devices.last?["id"] as? String == "host")

            let table = try #require(runProgram(binary, ["devices", "--devices-file", planned]))
            // Column widths follow the widest cell (the host's usage varies), so compare the row's cells.
            let row = table.stdout.split(separator: "\n").first { $0.hasPrefix("CUDA1 ") }
            let cells = row.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
            #expect(cells == ["CUDA1", "discrete", "12288", "MiB", "12288", "MiB", "[..........]", "0%", "B"])

            let bad = try folder.write(
                "bad.json", #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": "abc"}]}"#)
            let refused = try #require(runProgram(binary, ["devices", "--devices-file", bad]))
            #expect(refused.status == OrchestratorExitCode.configInvalid.rawValue)
            #expect(refused.stderr.contains(#"\#(bad): devices[0].total_mib: expected a positive integer, got "abc""#))
        }
    }
}
