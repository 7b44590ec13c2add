import OrchestratorCore

/// Host memory and cores (placeholder until the drivers issue lands).
public struct CPUDriver: BackendDriver {
    public static let name = "cpu"
    public static let summary = "host memory and CPU cores"
    public init(context: DriverContext) {}
    public func probe() async -> DriverProbe { .unavailable(reason: "not implemented yet") }
}
