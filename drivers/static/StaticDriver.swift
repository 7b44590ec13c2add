import OrchestratorCore

/// Devices from an inventory file: plan for hardware this machine doesn't have, or test multi-GPU
/// placement on a machine with none.
///
/// This is the example driver to copy. A driver is a type in its own folder under `drivers/` that
/// conforms to `BackendDriver`; the build plugin finds it, so there is nothing to register:
///
/// 1. `name` is what `--backend` and configs use; `summary` is its line in `llama-orch drivers`.
/// 2. `init(context:)` only stores what it needs from the `DriverContext`. It touches no hardware and reads
///    no file, so listing drivers is cheap and never fails.
/// 3. `probe()` does the work and never throws: it returns `.available(devices)` or
///    `.unavailable(UnavailableReason)` with a cause and a message a user can act on.
/// 4. `launchSettings(for:)` is only needed when `--device NAME` is not enough (see `VulkanDriver`).
///
/// The file is `--devices-file FILE` or `LLAMA_ORCH_DEVICES`; its format is described by `StaticInventory`.
public struct StaticDriver: BackendDriver {
    public static let name = "static"
    public static let summary = "devices from an inventory file (--devices-file or LLAMA_ORCH_DEVICES)"

    /// The inventory file, when one was given.
    public let file: String?

    public init(context: DriverContext) {
        file = context.devicesFile ?? context.environment["LLAMA_ORCH_DEVICES"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public func probe() async -> DriverProbe {
        guard let file else {
            return .unavailable(
                .init(.notConfigured, "no inventory file; pass --devices-file FILE or set LLAMA_ORCH_DEVICES"))
        }
        do {
            return .available(try StaticInventory.load(file: file))
        } catch {
            return .unavailable(.init(error.isMissing ? .missingFile : .invalidInput, error.description))
        }
    }
}
