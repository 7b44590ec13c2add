import OrchestratorCore

/// The drivers compiled in from `drivers/`, as a registry, and the order `auto` tries them in.
public enum DriverCatalog {
    /// Every driver found in `drivers/` by the build plugin, listed by name.
    public static func registry() -> DriverRegistry {
        DriverRegistry(drivers: builtInDriverTypes.sorted { $0.name < $1.name })
    }
}
