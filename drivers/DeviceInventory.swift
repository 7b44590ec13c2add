import Foundation
import OrchestratorCore

/// The devices one backend offers, with the host always listed: what the scheduler places instances on.
public struct Inventory: Sendable, Encodable {
    /// What was asked for: `auto` or a driver name.
    public var requested: String
    /// The driver whose devices these are.
    public var backend: String
    /// The driver's devices, then the host entry (from the `cpu` driver unless the driver gave its own).
    public var devices: [Device]
    /// Every driver probed on the way, in order, and what it found.
    public var attempts: [DriverStatus]
    /// The chosen driver, for `launchSettings(for:)`.
    let driver: any BackendDriver

    /// The drivers `auto` tried before the chosen one, and why each was passed over.
    public var passedOver: [DriverStatus] {
        guard requested == "auto", let chosen = DeviceInventory.autoChain.firstIndex(of: backend) else { return [] }
        let earlier = Set(DeviceInventory.autoChain[..<chosen])
        return attempts.filter { earlier.contains($0.name) }
    }

    /// The `--device` names and environment llama-server needs to run on `devices` (host entries ignored).
    public func launchSettings(for devices: [Device]) -> LaunchSettings {
        driver.launchSettings(for: devices.filter { !$0.isHost })
    }

    enum CodingKeys: String, CodingKey {
        case requested, backend, devices, attempts
    }
}

/// One driver's probe, as `llama-orch drivers` lists it.
public struct DriverStatus: Sendable, Encodable, Equatable {
    public var name: String
    public var summary: String
    public var probe: DriverProbe

    /// Whether the driver can be used here.
    public var available: Bool { probe.unavailableReason == nil }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(summary, forKey: .summary)
        try container.encode(available, forKey: .available)
        try container.encode(probe.devices.count, forKey: .deviceCount)
        try container.encodeIfPresent(probe.unavailableReason, forKey: .unavailable)
    }

    enum CodingKeys: String, CodingKey {
        case name, summary, available, deviceCount, unavailable
    }
}

/// Chooses a backend and lists its devices: the one entry point the CLI and the scheduler call.
public enum DeviceInventory {
    /// The drivers `auto` tries, in order; the first that finds a usable GPU wins, else `cpu`.
    public static let autoChain = ["vulkan", "fallback", "cpu"]

    /// The backend to use when none was named on the command line or in a config: `static` when an inventory
    /// file was passed explicitly (`--devices-file`), else `auto`.
    public static func backend(requested: String?, devicesFileOption: String?) -> String {
        requested ?? (devicesFileOption == nil ? "auto" : StaticDriver.name)
    }

    /// The devices of `backend` (`auto` or a driver name) plus the host.
    ///
    /// `auto` tries `autoChain` and takes the first driver with a usable GPU (`Device.isUsableGPU`; a
    /// CPU-type Vulkan device such as lavapipe doesn't count), else the `cpu` driver.
    ///
    /// - Throws: `RegistryError` for an unknown name (listing the known ones); `DriverUnavailableError` when
    ///   the named driver (or, for `auto`, even `cpu`) can't be used.
    public static func discover(
        backend: String, registry: DriverRegistry, context: DriverContext
    ) async throws -> Inventory {
        var probes = ProbeCache(registry: registry, context: context)
        if backend == "auto" {
            for name in autoChain {
                guard let type = registry[name] else { continue }
                if await probes.probe(type).status.probe.devices.contains(where: \.isUsableGPU) {
                    return await inventory(requested: backend, chosen: type, probes: &probes)
                }
            }
            guard let cpu = registry[CPUDriver.name] else {
                throw DriverUnavailableError(
                    driver: backend, reason: .init(.noDevices, "no driver in the auto chain found a usable GPU"))
            }
            return try await checked(inventory(requested: backend, chosen: cpu, probes: &probes))
        }
        let type = try registry.lookup(backend)
        return try await checked(inventory(requested: backend, chosen: type, probes: &probes))
    }

    /// Every registered driver's probe, in registry order, run concurrently.
    public static func statuses(registry: DriverRegistry, context: DriverContext) async -> [DriverStatus] {
        await withTaskGroup(of: (Int, DriverStatus).self) { group in
            for (position, entry) in registry.all.enumerated() {
                group.addTask {
                    let driver = entry.entry.init(context: context)
                    return (
                        position, DriverStatus(name: entry.name, summary: driver.summary, probe: await driver.probe())
                    )
                }
            }
            var results: [(Int, DriverStatus)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// The chosen driver's devices with a host entry added when it gave none.
    private static func inventory(
        requested: String, chosen: any BackendDriver.Type, probes: inout ProbeCache
    ) async -> Inventory {
        let (driver, status) = await probes.probe(chosen)
        var devices = status.probe.devices
        if status.available, !devices.contains(where: \.isHost), chosen.name != CPUDriver.name,
            let cpu = probes.registry[CPUDriver.name]
        {
            devices += await probes.probe(cpu).status.probe.devices.filter(\.isHost)
        }
        return Inventory(
            requested: requested, backend: chosen.name, devices: devices, attempts: probes.attempts, driver: driver)
    }

    /// The inventory, unless its driver is unavailable.
    private static func checked(_ inventory: Inventory) throws(DriverUnavailableError) -> Inventory {
        if let reason = inventory.attempts.first(where: { $0.name == inventory.backend })?.probe.unavailableReason {
            throw DriverUnavailableError(driver: inventory.backend, reason: reason)
        }
        return inventory
    }

    /// Each driver created and probed at most once per discovery, in the order asked.
    private struct ProbeCache {
        let registry: DriverRegistry
        let context: DriverContext
        private var probed: [(driver: any BackendDriver, status: DriverStatus)] = []

        init(registry: DriverRegistry, context: DriverContext) {
            self.registry = registry
            self.context = context
        }

        /// Every probe so far, in order.
        var attempts: [DriverStatus] { probed.map(\.status) }

        mutating func probe(_ type: any BackendDriver.Type) async -> (driver: any BackendDriver, status: DriverStatus) {
            if let done = probed.first(where: { $0.status.name == type.name }) { return done }
            let driver = type.init(context: context)
            let result = (driver, DriverStatus(name: type.name, summary: type.summary, probe: await driver.probe()))
            probed.append(result)
            return result
        }
    }
}

extension DriverContext {
    /// The context a command line gives drivers: its environment (which holds `LLAMA_ORCH_DEVICES`,
    /// `LLAMA_SERVER`, `PATH`), the `--devices-file` option, and the project root (the `fallback` driver searches
    /// its `bin/` for llama-server).
    public static func commandLine(
        environment: [String: String], devicesFile: String?, projectRoot: String?
    ) -> DriverContext {
        DriverContext(environment: environment, devicesFile: devicesFile, projectRoot: projectRoot)
    }
}
