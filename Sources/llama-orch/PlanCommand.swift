import ArgumentParser
import Drivers
import Foundation
import GGUF
import Logging
import OrchestratorCore
import Scheduler
import StateStore

struct PlanCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show where instances would go and the exact llama-server command for each.",
        discussion: """
            Reads each model's GGUF header, estimates its memory for the config's context, slots and cache \
            types, asks the backend driver for devices, subtracts what running instances hold, and places the \
            instances: one GPU when it fits within the headroom, then the fewest GPUs, then a partial offload, \
            then the CPU. Exits 70 when something doesn't fit. Nothing is started.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Instances to plan (default: all).")
    var names: [String] = []

    @Option(name: .long, help: "pack (tightest fit first) or spread (most room first).")
    var policy: PlacementPolicy.Strategy = .pack

    @Option(
        name: .long,
        help: "Headroom kept free per device, in MiB (default: 1024 or 10 % of the device, whichever is smaller).")
    var headroomMib: UInt64?

    @Flag(name: .long, help: "Print the plan as JSON.")
    var json = false

    /// The largest headroom taken (1 TiB): more would wrap around when counted in bytes.
    static let maximumHeadroomMib: UInt64 = 1 << 20

    func validate() throws {
        if let headroomMib, headroomMib > Self.maximumHeadroomMib {
            throw ValidationError(
                "--headroom-mib \(headroomMib) is more than any device has; give at most \(Self.maximumHeadroomMib)")
        }
    }

    func execute() async throws {
        try InstanceNameError.check(names)
        let root = try global.projectRoot()
        let registry = DriverCatalog.registry()
        let validator = ConfigValidator(knownNames: KnownNames(backends: registry.names))
        var reports = validator.validateAll(in: root)
        if !names.isEmpty {
            for name in names where !reports.contains(where: { $0.name == name }) {
                throw CLIError(.notFound, "no instance '\(name)' in \(root.instancesDirectory)")
            }
            reports = reports.filter { names.contains($0.name) }
        }
        guard !reports.isEmpty else {
            throw CLIError(
                .notFound,
                "no instances in \(root.instancesDirectory); create one with 'llama-orch init NAME --model PATH'")
        }
        if let invalid = reports.first(where: { !$0.isValid }) {
            throw ConfigError(file: invalid.file, issues: invalid.issues)
        }
        let configs = reports.compactMap(\.config)
        let round = PlanningRound(
            configs: configs, root: root, environment: global.environment, backend: global.backend,
            devicesFile: global.devicesFile,
            policy: PlacementPolicy(strategy: policy, headroomBytes: headroomMib.map { $0 << 20 }),
            heldPlacements: try runningPlacements(root: root))
        let report = try await round.run().report
        if json {
            try printJSON(report)
        } else {
            print(PlanRenderer.render(report))
        }
        if !report.refusals.isEmpty { throw ExitCode(OrchestratorExitCode.placementImpossible.rawValue) }
    }

    /// The placements recorded with the open runs, measured where known: memory that running instances hold.
    private func runningPlacements(root: ProjectRoot) throws -> [HeldPlacement] {
        guard FileManager.default.fileExists(atPath: root.stateDatabase) else { return [] }
        // The warnings (a damaged store moved aside) are printed here, once: not logged as well.
        let (store, warnings) = try StateStore.open(
            path: root.stateDatabase, logger: Logger(label: "llama-orch.state") { _ in SwiftLogNoOpLogHandler() })
        warnings.forEach(printWarning)
        return PlanningRound.placements(of: try store.openRuns())
    }
}

extension PlacementPolicy.Strategy: ExpressibleByArgument {}

/// The text form of a plan.
enum PlanRenderer {
    static func render(_ report: PlanReport, barWidth: Int = 30) -> String {
        var lines = ["backend: \(report.backend) · llama-server \(report.binaryVersion) (\(report.binary))", ""]
        // As wide as the longest name: names cut short could read alike (`GPU-node1-a`, `GPU-node1-b`).
        let nameWidth = max(9, report.devices.map(\.name.count).max() ?? 0)
        for device in report.devices {
            let total = max(device.totalBytes, 1)
            func cells(_ bytes: UInt64) -> Int { Int((Double(bytes) / Double(total) * Double(barWidth)).rounded()) }
            let held = min(cells(device.heldBytes), barWidth)
            let notFree = min(
                cells(device.totalBytes.subtractingClamped(device.freeBytes).subtractingClamped(device.heldBytes)),
                barWidth - held)
            let planned = min(cells(device.planned.reduce(0) { $0 + $1.bytes }), barWidth - held - notFree)
            let bar =
                String(repeating: "#", count: held) + String(repeating: "+", count: notFree)
                + String(repeating: "=", count: planned)
                + String(repeating: ".", count: barWidth - held - notFree - planned)
            var line =
                "\(device.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)) [\(bar)] \(formatBytes(device.totalBytes)) total"
            if device.heldBytes > 0 { line += ", held \(formatBytes(device.heldBytes))" }
            for entry in device.planned { line += ", \(entry.instance) \(formatBytes(entry.bytes))" }
            line += ", \(formatBytes(device.remainingBytes)) free after"
            lines.append(line)
            lines.append(String(repeating: " ", count: nameWidth + 1) + device.description)
        }
        lines.append("          # held by running instances, + used by others, = planned, . free")
        let names = Dictionary(report.devices.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        for instance in report.instances {
            lines.append("")
            lines += placementLines(instance.placement, deviceNames: names)
            for note in instance.estimateNotes { lines.append("  ~ \(note)") }
            lines.append("  $ \(instance.command.displayLine)")
        }
        for refusal in report.refusals {
            lines.append("")
            lines.append("does not fit: \(refusal.description)")
        }
        return lines.joined(separator: "\n")
    }

    /// One placement as `plan` shows it (`describe` too): mode, layers and bytes per device, then the reasons.
    ///
    /// - Parameter deviceNames: device id → the name to show where a share has no llama.cpp name.
    static func placementLines(_ placement: Placement, deviceNames: [String: String] = [:]) -> [String] {
        var where_ = placement.shares.map {
            "\($0.llamaName ?? deviceNames[$0.deviceID] ?? $0.deviceID) \(formatBytes($0.bytes))"
        }
        where_.append("host \(formatBytes(placement.hostBytes))")
        return [
            "\(placement.instance): \(placement.mode.rawValue), \(placement.offloadedUnits)/\(placement.blockCount + 1) layers on GPU (\(where_.joined(separator: ", ")))"
        ] + placement.reasons.map { "  - \($0)" }
    }
}
