import Foundation

/// Host memory as llama-orch may plan with it: the machine's memory bounded by the cgroup limit, if any.
public struct HostMemory: Sendable, Equatable {
    /// `MemTotal` from `/proc/meminfo`.
    public var memTotal: UInt64
    /// `MemAvailable` from `/proc/meminfo`.
    public var memAvailable: UInt64
    /// The tightest memory limit of this process's cgroup and its parents, when one applies.
    public var cgroupLimit: UInt64?
    /// What the limiting cgroup already uses, when a limit applies.
    public var cgroupUsage: UInt64?
    /// 1 or 2 when a cgroup limit was found.
    public var cgroupVersion: Int?

    /// `min(limit, MemTotal)`.
    public var totalBytes: UInt64 { min(cgroupLimit ?? memTotal, memTotal) }

    /// `min(MemAvailable, limit − usage)`.
    public var freeBytes: UInt64 {
        guard let limit = cgroupLimit else { return min(memAvailable, totalBytes) }
        let room = limit > (cgroupUsage ?? 0) ? limit - (cgroupUsage ?? 0) : 0
        return min(memAvailable, room, totalBytes)
    }
}

/// Facts about the host read from `/proc` and `/sys`: memory, cgroup limits and CPU topology.
///
/// Other modules call `physicalCores()` for llama-server's default `-t`.
public enum HostResources {
    /// Host memory, or `nil` when `/proc/meminfo` can't be read.
    public static func memory(in files: HostFileSystem = .live) -> HostMemory? {
        guard let meminfo = files.read("/proc/meminfo") else { return nil }
        var values: [String: UInt64] = [:]
        for line in meminfo.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
            guard parts.count >= 2, let value = UInt64(parts[1]) else { continue }
            let unit: UInt64 = parts.count >= 3 && parts[2] == "kB" ? 1024 : 1
            values[String(parts[0])] = value * unit
        }
        guard let total = values["MemTotal"] else { return nil }
        var memory = HostMemory(
            memTotal: total, memAvailable: values["MemAvailable"] ?? values["MemFree"] ?? total)
        if let limit = cgroupMemoryLimit(in: files) {
            memory.cgroupLimit = limit.limit
            memory.cgroupUsage = limit.usage
            memory.cgroupVersion = limit.version
        }
        return memory
    }

    /// Physical cores: distinct (physical id, core id) pairs in `/proc/cpuinfo`, else the same pairs from
    /// `/sys/devices/system/cpu/cpu*/topology`, else the logical count.
    public static func physicalCores(in files: HostFileSystem = .live) -> Int {
        let fromCPUInfo = Set(
            cpuInfoBlocks(in: files).compactMap { block -> String? in
                guard let package = block["physical id"], let core = block["core id"] else { return nil }
                return package + "/" + core
            })
        if !fromCPUInfo.isEmpty { return fromCPUInfo.count }
        let cpus = files.list("/sys/devices/system/cpu").filter {
            $0.hasPrefix("cpu") && $0.dropFirst(3).allSatisfy(\.isNumber) && $0.count > 3
        }
        let fromSysfs = Set(
            cpus.compactMap { cpu -> String? in
                let topology = "/sys/devices/system/cpu/\(cpu)/topology/"
                guard let package = files.readLine(topology + "physical_package_id"),
                    let core = files.readLine(topology + "core_id")
                else { return nil }
                return package + "/" + core
            })
        if !fromSysfs.isEmpty { return fromSysfs.count }
        return logicalCores(in: files)
    }

    /// Logical CPUs: `processor` entries in `/proc/cpuinfo`, else what the process may use.
    public static func logicalCores(in files: HostFileSystem = .live) -> Int {
        let count = cpuInfoBlocks(in: files).filter { $0["processor"] != nil }.count
        return count > 0 ? count : ProcessInfo.processInfo.activeProcessorCount
    }

    /// The CPU's model name and vendor from `/proc/cpuinfo`, when it says.
    static func cpuModel(in files: HostFileSystem) -> (model: String?, vendor: String?) {
        let first = cpuInfoBlocks(in: files).first ?? [:]
        return (first["model name"] ?? first["Model"], first["vendor_id"])
    }

    /// `/proc/cpuinfo` as one dictionary per processor block.
    private static func cpuInfoBlocks(in files: HostFileSystem) -> [[String: String]] {
        guard let text = files.read("/proc/cpuinfo") else { return [] }
        var blocks: [[String: String]] = []
        var current: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else {
                if line.trimmingCharacters(in: .whitespaces).isEmpty, !current.isEmpty {
                    blocks.append(current)
                    current = [:]
                }
                continue
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            current[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if !current.isEmpty { blocks.append(current) }
        return blocks
    }

    /// Values at or above this mean "no limit" (cgroup v1 writes a page-rounded `Int64.max`).
    private static let unlimited: UInt64 = 1 << 60

    /// The tightest memory limit over this process's cgroup and its ancestors, with the usage of the
    /// cgroup that sets it; v2 (`memory.max`, `memory.current`) first, then v1.
    private static func cgroupMemoryLimit(in files: HostFileSystem) -> (limit: UInt64, usage: UInt64?, version: Int)? {
        guard let membership = files.read("/proc/self/cgroup") else { return nil }
        for line in membership.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                if let found = tightestLimit(
                    base: "/sys/fs/cgroup", path: path, limitFile: "memory.max", usageFile: "memory.current",
                    in: files)
                {
                    return (found.limit, found.usage, 2)
                }
            } else if fields[1].split(separator: ",").contains("memory") {
                if let found = tightestLimit(
                    base: "/sys/fs/cgroup/memory", path: path, limitFile: "memory.limit_in_bytes",
                    usageFile: "memory.usage_in_bytes", in: files)
                {
                    return (found.limit, found.usage, 1)
                }
            }
        }
        return nil
    }

    /// Walks from `base + path` up to `base` (a cgroup namespace may hide the path: then only `base`).
    private static func tightestLimit(
        base: String, path: String, limitFile: String, usageFile: String, in files: HostFileSystem
    ) -> (limit: UInt64, usage: UInt64?)? {
        var components = path.split(separator: "/").map(String.init)
        var best: (limit: UInt64, usage: UInt64?)?
        while true {
            let folder = ([base] + components).joined(separator: "/")
            if let text = files.readLine(folder + "/" + limitFile), let limit = UInt64(text), limit < unlimited,
                best == nil || limit < best!.limit
            {
                best = (limit, files.readNumber(folder + "/" + usageFile))
            }
            if components.isEmpty { break }
            components.removeLast()
        }
        return best
    }
}
