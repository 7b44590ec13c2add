import ArgumentParser
import Drivers
import Foundation
import OrchestratorCore

/// `llama-orch devices`: the devices of the chosen backend and the host, with their memory.
struct DevicesCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the devices of a backend (default: auto) and the host, with free memory.",
        discussion: """
            --backend auto tries \(DeviceInventory.autoChain.joined(separator: ", ")) and takes the first with a \
            usable GPU (a CPU-type Vulkan device such as lavapipe doesn't count). The static driver reads \
            --devices-file or LLAMA_ORCH_DEVICES; --devices-file without --backend means --backend static.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(help: "Print JSON.")
    var json = false

    func execute() async throws {
        let inventory = try await DeviceInventory.discover(
            backend: DeviceInventory.backend(requested: options.backend, devicesFileOption: options.devicesFile),
            registry: DriverCatalog.registry(), context: try options.driverContext())
        if json { return try printJSON(inventory) }
        let rows = inventory.devices.map { device in
            [
                llamaColumn(device, inventory: inventory), device.kind.rawValue, mebibytes(device.totalBytes),
                mebibytes(device.freeBytes), usageBar(device), device.description,
            ]
        }
        print("backend: \(inventory.backend)" + (inventory.requested == "auto" ? " (auto)" : ""))
        printTable(header: ["LLAMA.CPP", "KIND", "TOTAL", "FREE", "USED", "DESCRIPTION"], rows: rows)
        for attempt in inventory.passedOver {
            let why =
                attempt.probe.unavailableReason?.description
                ?? "no usable GPU (\(attempt.probe.devices.map(\.description).joined(separator: ", ")))"
            print("passed over \(attempt.name): \(why)")
        }
    }

    /// `Vulkan0`, `host`, or how a device without a default name is selected (`Vulkan0 via GGML_VK_VISIBLE_DEVICES=0`).
    private func llamaColumn(_ device: Device, inventory: Inventory) -> String {
        if device.isHost { return "host" }
        if let name = device.llamaName { return name }
        let settings = inventory.launchSettings(for: [device])
        guard let name = settings.deviceNames.first else { return "-" }
        let environment = settings.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return ([name + " via"] + environment).joined(separator: " ")
    }

    /// `24576 MiB`.
    private func mebibytes(_ bytes: UInt64) -> String { "\(bytes >> 20) MiB" }

    /// `[#####.....] 50%` of the device's memory in use.
    private func usageBar(_ device: Device, width: Int = 10) -> String {
        guard device.totalBytes > 0 else { return "" }
        let used = Double(device.totalBytes - device.freeBytes) / Double(device.totalBytes)
        let filled = Int((used * Double(width)).rounded())
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + String(Int((used * 100).rounded())) + "%"
    }
}
