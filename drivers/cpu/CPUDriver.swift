import OrchestratorCore

/// Host memory and CPU cores: the device every placement can fall back to.
///
/// Memory is `MemAvailable`/`MemTotal` bounded by the cgroup limit when one applies; cores are physical
/// cores, the default for llama-server's `-t`. Host memory needs no `--device`, so the default
/// `launchSettings(for:)` applies.
public struct CPUDriver: BackendDriver {
    public static let name = "cpu"
    public static let summary = "host memory (cgroup-aware) and physical CPU cores"

    /// Where `/proc` and `/sys` are read.
    public let files: HostFileSystem

    public init(context: DriverContext) {
        self.init(files: .live)
    }

    /// Creates a driver that reads host facts under `files` (a fake folder in tests).
    public init(files: HostFileSystem) {
        self.files = files
    }

    public func probe() async -> DriverProbe {
        guard let host = hostDevice() else {
            return .unavailable(.init(.probeFailed, "can't read \(files.path("/proc/meminfo"))"))
        }
        return .available([host])
    }

    /// The host entry: id `host`, kind `cpu`, no llama.cpp name.
    public func hostDevice() -> Device? {
        guard let memory = HostResources.memory(in: files) else { return nil }
        let physical = HostResources.physicalCores(in: files)
        let logical = HostResources.logicalCores(in: files)
        let cpu = HostResources.cpuModel(in: files)
        var details = [
            "physical_cores": String(physical),
            "logical_cores": String(logical),
            "mem_total_bytes": String(memory.memTotal),
            "mem_available_bytes": String(memory.memAvailable),
        ]
        if let limit = memory.cgroupLimit, let version = memory.cgroupVersion {
            details["cgroup_version"] = String(version)
            details["cgroup_limit_bytes"] = String(limit)
            if let usage = memory.cgroupUsage { details["cgroup_usage_bytes"] = String(usage) }
        }
        if let model = cpu.model { details["cpu_model"] = model }
        return Device(
            id: "host", backend: Self.name, llamaName: nil,
            description: "host memory, \(physical) physical cores" + (cpu.model.map { " (\($0))" } ?? ""),
            kind: .cpu, vendor: cpu.vendor, totalBytes: memory.totalBytes, freeBytes: memory.freeBytes,
            details: details)
    }
}
