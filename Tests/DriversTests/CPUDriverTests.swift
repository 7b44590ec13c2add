import Drivers
import Foundation
import OrchestratorCore
import TestSupport
import Testing

extension SpawningProcesses {
    @Suite struct CPUDriverTests {
        static let gib: UInt64 = 1 << 30

        /// A fake root with `/proc/meminfo` (16 GiB total, 10 GiB available) and a 2-socket, 2-core, 2-thread
        /// `/proc/cpuinfo`.
        func fakeHost() throws -> TemporaryFolder {
            let folder = try TemporaryFolder()
            try folder.write(
                "proc/meminfo",
                """
                MemTotal:       16777216 kB
                MemFree:         1048576 kB
                MemAvailable:   10485760 kB
                Buffers:           12345 kB

                """)
            var cpuinfo = ""
            var processor = 0
            for package in 0..<2 {
                for core in 0..<2 {
                    for _ in 0..<2 {
                        cpuinfo += """
                            processor\t: \(processor)
                            vendor_id\t: GenuineIntel
                            model name\t: Fake CPU @ 3.00GHz
                            physical id\t: \(package)
                            core id\t\t: \(core)


                            """
                        processor += 1
                    }
                }
            }
            try folder.write("proc/cpuinfo", cpuinfo)
            return folder
        }

        @Test func noCgroupLimitMeansMemInfo() throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            try folder.write("proc/self/cgroup", "0::/user.slice\n")
            try folder.write("sys/fs/cgroup/user.slice/memory.max", "max\n")
            let memory = try #require(HostResources.memory(in: HostFileSystem(root: folder.path)))
            #expect(memory.totalBytes == 16 * Self.gib)
            #expect(memory.freeBytes == 10 * Self.gib)
            #expect(memory.cgroupLimit == nil)
        }

        @Test func cgroupV2LimitBoundsTotalAndFree() throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            try folder.write("proc/self/cgroup", "0::/system.slice/orch.service\n")
            try folder.write("sys/fs/cgroup/system.slice/memory.max", "\(12 * Self.gib)\n")
            try folder.write("sys/fs/cgroup/system.slice/memory.current", "\(9 * Self.gib)\n")
            try folder.write("sys/fs/cgroup/system.slice/orch.service/memory.max", "\(8 * Self.gib)\n")
            try folder.write("sys/fs/cgroup/system.slice/orch.service/memory.current", "\(5 * Self.gib)\n")
            let memory = try #require(HostResources.memory(in: HostFileSystem(root: folder.path)))
            #expect(memory.cgroupVersion == 2)
            #expect(memory.totalBytes == 8 * Self.gib, "the tightest limit wins")
            #expect(memory.freeBytes == 3 * Self.gib, "limit − usage of the limiting cgroup, below MemAvailable")
        }

        @Test func cgroupV2LimitAboveMemTotalIsClamped() throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            try folder.write("proc/self/cgroup", "0::/\n")
            try folder.write("sys/fs/cgroup/memory.max", "\(64 * Self.gib)\n")
            try folder.write("sys/fs/cgroup/memory.current", "\(1 * Self.gib)\n")
            let memory = try #require(HostResources.memory(in: HostFileSystem(root: folder.path)))
            #expect(memory.totalBytes == 16 * Self.gib)
            #expect(memory.freeBytes == 10 * Self.gib, "MemAvailable is smaller than limit − usage")
        }

        @Test func cgroupV1LimitWithAHiddenPathUsesTheMountRoot() throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            try folder.write("proc/self/cgroup", "5:cpu:/\n4:memory:/docker/abc123\n0::/\n")
            try folder.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "\(4 * Self.gib)\n")
            try folder.write("sys/fs/cgroup/memory/memory.usage_in_bytes", "\(3 * Self.gib)\n")
            let memory = try #require(HostResources.memory(in: HostFileSystem(root: folder.path)))
            #expect(memory.cgroupVersion == 1)
            #expect(memory.totalBytes == 4 * Self.gib)
            #expect(memory.freeBytes == 1 * Self.gib)
        }

        @Test func cgroupV1UnlimitedIsIgnored() throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            try folder.write("proc/self/cgroup", "4:memory:/\n")
            try folder.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n")
            let memory = try #require(HostResources.memory(in: HostFileSystem(root: folder.path)))
            #expect(memory.cgroupLimit == nil)
            #expect(memory.totalBytes == 16 * Self.gib)
        }

        @Test func physicalCoresCountDistinctPackageCorePairs() throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            let files = HostFileSystem(root: folder.path)
            #expect(HostResources.physicalCores(in: files) == 4)
            #expect(HostResources.logicalCores(in: files) == 8)
        }

        @Test func physicalCoresFallBackToSysfsTopologyThenLogicalCount() throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            try folder.write("proc/cpuinfo", "processor\t: 0\n\nprocessor\t: 1\n\nprocessor\t: 2\n\nprocessor\t: 3\n")
            let files = HostFileSystem(root: folder.path)
            #expect(HostResources.physicalCores(in: files) == 4, "no topology anywhere: the logical count")
            for (cpu, core) in [(0, 0), (1, 0), (2, 1), (3, 1)] {
                try folder.write("sys/devices/system/cpu/cpu\(cpu)/topology/physical_package_id", "0\n")
                try folder.write("sys/devices/system/cpu/cpu\(cpu)/topology/core_id", "\(core)\n")
            }
            try folder.write("sys/devices/system/cpu/cpufreq/ignored", "")
            #expect(HostResources.physicalCores(in: files) == 2)
        }

        @Test func driverReportsTheHostEntry() async throws {
            let folder = try fakeHost()
            defer { folder.remove() }
            let devices = await CPUDriver(files: HostFileSystem(root: folder.path)).probe().devices
            let host = try #require(devices.first)
            #expect(devices.count == 1)
            #expect(host.isHost)
            #expect(host.id == "host")
            #expect(host.details["physical_cores"] == "4")
            #expect(host.description.contains("Fake CPU"))
            #expect(host.totalBytes == 16 * Self.gib)

            let empty = try TemporaryFolder()
            defer { empty.remove() }
            let missing = await CPUDriver(files: HostFileSystem(root: empty.path)).probe()
            #expect(missing.unavailableReason?.cause == .probeFailed)
        }

        @Test func realHostMatchesProcMeminfo() async throws {
            let meminfo = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
            let totalLine = try #require(meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") })
            let memTotalKiB = try #require(UInt64(totalLine.split(separator: " ")[1]))
            let host = try #require(await CPUDriver(context: DriverContext()).probe().devices.first)
            #expect(host.details["mem_total_bytes"] == String(memTotalKiB * 1024))
            #expect(host.totalBytes <= memTotalKiB * 1024)
            #expect(host.freeBytes > 0 && host.freeBytes <= host.totalBytes)

            // Physical cores as lscpu counts them (one line per logical CPU: core,socket).
            let cores = HostResources.physicalCores()
            #expect(cores >= 1 && cores <= ProcessInfo.processInfo.processorCount)
            if let lscpu = runProgram("lscpu", ["-p=core,socket"]), lscpu.status == 0 {
                let pairs = Set(lscpu.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") })
                #expect(cores == pairs.count)
            }
        }
    }
}
