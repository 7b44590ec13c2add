import Drivers
import Foundation
import OrchestratorCore
import TestSupport
import Testing

/// One device as `vulkaninfo` prints it: type, name and heaps.
struct VulkaninfoDevice {
    var index: Int
    var type = ""
    var name = ""
    var heaps: [(size: UInt64, deviceLocal: Bool)] = []
}

/// The devices `vulkaninfo` reports, or a recorded failure saying what to install.
func vulkaninfoDevices() throws -> [VulkaninfoDevice] {
    var environment = ProcessInfo.processInfo.environment
    environment["XDG_RUNTIME_DIR"] = environment["XDG_RUNTIME_DIR"] ?? NSTemporaryDirectory()
    guard let run = runProgram("vulkaninfo", [], environment: environment), run.status == 0 else {
        Issue.record("vulkaninfo failed or is missing: install vulkan-tools mesa-vulkan-drivers (apt-get install)")
        throw CancellationError()
    }
    var devices: [VulkaninfoDevice] = []
    var inHeaps = false
    for rawLine in run.stdout.split(separator: "\n") {
        let line = rawLine.trimmingCharacters(in: .whitespaces)
        if rawLine.hasPrefix("GPU"), rawLine.hasSuffix(":"), let index = Int(rawLine.dropFirst(3).dropLast()) {
            devices.append(VulkaninfoDevice(index: index))
            inHeaps = false
            continue
        }
        guard !devices.isEmpty else { continue }
        let value = line.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
        if line.hasPrefix("deviceType "), devices[devices.count - 1].type.isEmpty, let value {
            devices[devices.count - 1].type = value
        } else if line.hasPrefix("deviceName "), devices[devices.count - 1].name.isEmpty, let value {
            devices[devices.count - 1].name = value
        } else if line.hasPrefix("memoryHeaps:") {
            inHeaps = true
        } else if line.hasPrefix("memoryTypes:") {
            inHeaps = false
        } else if inHeaps, line.hasPrefix("size "),
            let size = value?.split(separator: " ").first.flatMap({ UInt64($0) })
        {
            devices[devices.count - 1].heaps.append((size, false))
        } else if inHeaps, line == "MEMORY_HEAP_DEVICE_LOCAL_BIT", !devices[devices.count - 1].heaps.isEmpty {
            devices[devices.count - 1].heaps[devices[devices.count - 1].heaps.count - 1].deviceLocal = true
        }
    }
    return devices
}

extension SpawningProcesses {
    @Suite struct VulkanDriverTests {
        @Test func findsLavapipeWithTheHeapVulkaninfoReports() async throws {
            let expected = try vulkaninfoDevices()
            let lavapipe = try #require(
                expected.first { $0.type == "PHYSICAL_DEVICE_TYPE_CPU" },
                "vulkaninfo shows no CPU-type device: install mesa-vulkan-drivers (lavapipe)")
            let probe = await VulkanDriver(context: DriverContext()).probe()
            #expect(probe.unavailableReason == nil)
            #expect(probe.devices.count == expected.count)
            let device = try #require(probe.devices.first { $0.rawIndex == lavapipe.index })
            #expect(device.kind == .cpu)
            #expect(device.description == lavapipe.name)
            #expect(device.description.hasPrefix("llvmpipe"))
            let deviceLocal = lavapipe.heaps.filter(\.deviceLocal).map(\.size).reduce(0, +)
            #expect(deviceLocal > 0)
            #expect(device.totalBytes == deviceLocal)
            #expect(device.freeBytes == deviceLocal, "lavapipe has no memory-budget extension: free is the heap size")
            #expect(device.vendor == "Mesa (0x10005)")
            #expect(device.details["driver"] == "llvmpipe")
            #expect(device.uuid?.count == 32)
            #expect(device.llamaName == nil, "ggml never picks a CPU-type device by itself")
            #expect(!device.isHost)
            #expect(!device.isUsableGPU)

            let settings = VulkanDriver(context: DriverContext()).launchSettings(for: [device])
            #expect(settings.deviceNames == ["Vulkan0"])
            #expect(settings.environment == ["GGML_VK_VISIBLE_DEVICES": String(lavapipe.index)])
        }

        @Test func visibleDevicesGiveLavapipeItsName() async throws {
            let context = DriverContext(environment: ["GGML_VK_VISIBLE_DEVICES": "0"])
            let devices = await VulkanDriver(context: context).probe().devices
            #expect(devices.first { $0.rawIndex == 0 }?.llamaName == "Vulkan0")
        }

        @Test func missingLoaderSaysSo() async {
            let probe = await VulkanDriver(context: DriverContext(), library: "libvulkan-missing.so.1").probe()
            let reason = probe.unavailableReason
            #expect(reason?.cause == .missingDependency)
            #expect(reason?.description.hasPrefix("unavailable: no Vulkan loader (libvulkan-missing.so.1)") == true)
        }

        @Test func aLibraryThatIsNotTheLoaderSaysSo() async {
            // A real library without vkGetInstanceProcAddr.
            let probe = await VulkanDriver(context: DriverContext(), library: "libm.so.6").probe()
            #expect(probe.unavailableReason?.message.contains("no vkGetInstanceProcAddr") == true)
        }

        @Test func binaryHasNoLinkTimeDependencyOnTheLoader() throws {
            let binary = try llamaOrchBinary()
            let ldd = try #require(runProgram("ldd", [binary]))
            #expect(ldd.status == 0)
            #expect(!ldd.stdout.contains("libvulkan"))
        }

        @Test func realBinaryWithALoaderButNoDriverSaysSo() throws {
            var environment = ProcessInfo.processInfo.environment
            environment["VK_DRIVER_FILES"] = "/nonexistent/icd.json"
            environment["VK_ICD_FILENAMES"] = "/nonexistent/icd.json"
            let run = try #require(runProgram(try llamaOrchBinary(), ["drivers", "--json"], environment: environment))
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let drivers = try #require(
                try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
            let vulkan = try #require(drivers.first { $0["name"] as? String == "vulkan" })
            #expect(vulkan["available"] as? Bool == false)
            let reason = try #require(vulkan["unavailable"] as? [String: Any])
            #expect(reason["cause"] as? String == "no-devices")
            #expect((reason["message"] as? String)?.contains("no Vulkan driver (ICD) is installed") == true)
        }

        /// The path `dlopen("libvulkan.so.1")` finds, from the linker cache, with links resolved.
        func loaderPath() throws -> String {
            let cache = try #require(runProgram("/sbin/ldconfig", ["-p"]))
            let line = try #require(cache.stdout.split(separator: "\n").first { $0.contains("libvulkan.so.1 ") })
            let path = try #require(line.components(separatedBy: " => ").last)
            return URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        }

        /// Runs `llama-orch ARGS` in a private mount namespace where the Vulkan loader is `/dev/null`.
        func runWithoutLoader(_ arguments: [String]) throws -> ProgramRun {
            let script = #"mount --bind /dev/null "$1" && shift && exec "$@""#
            return try #require(
                runProgram(
                    "unshare",
                    [
                        "--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", try loaderPath(),
                        try llamaOrchBinary(),
                    ] + arguments))
        }

        @Test(.enabled(if: getuid() == 0, "hiding the loader needs root (unshare -m and a bind mount)"))
        func realBinaryWithTheLoaderHiddenStillGivesTheHost() throws {
            let run = try runWithoutLoader(["devices", "--json"])
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
            #expect(json["backend"] as? String != "vulkan")
            let devices = try #require(json["devices"] as? [[String: Any]])
            #expect(devices.contains { $0["id"] as? String == "host" && $0["kind"] as? String == "cpu" })
            let attempts = try #require(json["attempts"] as? [[String: Any]])
            let vulkan = try #require(attempts.first { $0["name"] as? String == "vulkan" })
            #expect(vulkan["available"] as? Bool == false)
            let reason = try #require(vulkan["unavailable"] as? [String: Any])
            #expect((reason["message"] as? String)?.hasPrefix("no Vulkan loader (libvulkan.so.1)") == true)

            let explicit = try runWithoutLoader(["devices", "--backend", "vulkan"])
            #expect(explicit.status == OrchestratorExitCode.driverUnavailable.rawValue)
            #expect(explicit.stderr.contains("driver 'vulkan' is unavailable: no Vulkan loader (libvulkan.so.1)"))
        }
    }
}

@Suite struct GGMLVulkanSelectionTests {
    typealias PD = VulkanPhysicalDevice
    let uuidA = [UInt8](repeating: 0xa, count: 16)
    let uuidB = [UInt8](repeating: 0xb, count: 16)

    func gpu(
        _ index: Int, _ type: PD.DeviceType, uuid: [UInt8]? = nil, vendor: UInt32 = 0x1002, driver: UInt32? = nil
    )
        -> PD
    {
        PD(
            index: index, name: "gpu\(index)", type: type, vendorID: vendor, driverID: driver,
            uuid: uuid ?? [UInt8](repeating: UInt8(index + 1), count: 16),
            heaps: [.init(size: 8 << 30, deviceLocal: true), .init(size: 32 << 30, deviceLocal: false)])
    }

    @Test func lavapipeAloneGetsNoName() {
        #expect(GGMLVulkanSelection.order([gpu(0, .cpu)], visibleDevices: nil) == [])
    }

    @Test func discreteAndIntegratedAreNamedCPUTypeIsSkipped() {
        let devices = [gpu(0, .cpu), gpu(1, .integrated), gpu(2, .discrete)]
        #expect(GGMLVulkanSelection.order(devices, visibleDevices: nil) == [1, 2])
        let named = [devices[1], devices[2]]
        #expect(!GGMLVulkanSelection.usedByDefault(devices[1], among: named))
        #expect(GGMLVulkanSelection.usedByDefault(devices[2], among: named))
        #expect(GGMLVulkanSelection.usedByDefault(devices[1], among: [devices[1]]))
    }

    @Test func unsupportedGPUsAreSkippedAndTheFirstNonCPUDeviceIsTheLastResort() {
        var old = gpu(1, .discrete)
        old.supports16BitStorage = false
        #expect(GGMLVulkanSelection.order([gpu(0, .cpu), old, gpu(2, .virtual)], visibleDevices: nil) == [1])
        #expect(GGMLVulkanSelection.order([gpu(0, .cpu), gpu(1, .virtual)], visibleDevices: nil) == [1])
    }

    @Test func oneGPUThroughTwoDriversKeepsThePreferredDriver() {
        // AMD: RADV (3) is preferred over AMDVLK (2), whichever comes first.
        let amdvlk = gpu(0, .discrete, uuid: uuidA, driver: 2)
        let radv = gpu(1, .discrete, uuid: uuidA, driver: 3)
        let other = gpu(2, .discrete, uuid: uuidB, driver: 3)
        #expect(GGMLVulkanSelection.order([amdvlk, radv, other], visibleDevices: nil) == [1, 2])
        #expect(
            GGMLVulkanSelection.order(
                [radv, amdvlk].enumerated().map { i, d in
                    var d = d
                    d.index = i
                    return d
                }, visibleDevices: nil) == [0])
        // NVIDIA: the proprietary driver (4) over NVK (24).
        let nvidia = gpu(0, .discrete, uuid: uuidB, vendor: 0x10de, driver: 4)
        let nvk = gpu(1, .discrete, uuid: uuidB, vendor: 0x10de, driver: 24)
        #expect(GGMLVulkanSelection.order([nvidia, nvk], visibleDevices: nil) == [0])
        // MoltenVK pairs are never merged.
        let molten = [gpu(0, .discrete, uuid: uuidA, driver: 14), gpu(1, .discrete, uuid: uuidA, driver: 14)]
        #expect(GGMLVulkanSelection.order(molten, visibleDevices: nil) == [0, 1])
    }

    @Test func visibleDevicesOverrideTheFilter() {
        let devices = [gpu(0, .cpu), gpu(1, .integrated), gpu(2, .discrete)]
        #expect(GGMLVulkanSelection.order(devices, visibleDevices: "2,0") == [2, 0])
        #expect(GGMLVulkanSelection.order(devices, visibleDevices: "0 1") == [0, 1])
        #expect(GGMLVulkanSelection.order(devices, visibleDevices: "1,x,2") == [1])
        #expect(
            GGMLVulkanSelection.order(devices, visibleDevices: "7") == [], "llama-server refuses an index out of range")
        #expect(GGMLVulkanSelection.order(devices, visibleDevices: "0,-1") == [])
        #expect(GGMLVulkanSelection.order(devices, visibleDevices: "") == [])
    }

    @Test func memoryFollowsLlamaCppAndIsClamped() {
        let discrete = gpu(0, .discrete)
        #expect(discrete.memory.total == 8 << 30, "only device-local heaps on a discrete GPU")
        var integrated = gpu(0, .integrated)
        #expect(integrated.memory.total == 40 << 30, "every heap on an integrated GPU")
        integrated.heaps = [
            .init(size: 100, deviceLocal: true, budget: 80, usage: 30),
            .init(size: 100, deviceLocal: false, budget: 500, usage: 0),
            .init(size: 100, deviceLocal: false, budget: 10, usage: 20),
        ]
        #expect(integrated.memory.total == 300)
        #expect(integrated.memory.free == 50 + 100 + 0, "budget − usage, clamped to 0...heap size")
    }

    @Test func devicesGetNamesIdsAndLaunchSettings() {
        let driver = VulkanDriver(context: DriverContext())
        var discrete = gpu(1, .discrete)
        discrete.pciBusID = "0000:29:00.0"
        let devices = driver.devices(from: [gpu(0, .cpu), discrete])
        #expect(devices.map(\.llamaName) == [nil, "Vulkan0"])
        #expect(devices.map(\.rawIndex) == [0, 1])
        #expect(devices[1].id == String(repeating: "02", count: 16))
        #expect(devices[1].pciBusID == "0000:29:00.0")
        #expect(devices[1].kind == .discrete && devices[1].isUsableGPU)
        #expect(driver.launchSettings(for: [devices[1]]) == LaunchSettings(deviceNames: ["Vulkan0"], environment: [:]))
        #expect(
            driver.launchSettings(for: [devices[1], devices[0]])
                == LaunchSettings(deviceNames: ["Vulkan0", "Vulkan1"], environment: ["GGML_VK_VISIBLE_DEVICES": "1,0"]))
    }
}
