import Foundation
import OrchestratorCore
import TestSupport
import Testing

/// The buffer lines of real llama-server logs (captured here, from both llama.cpp versions we support) and of
/// logs that went wrong: a figure is what the server printed, or nothing.
@Suite(.serialized) struct ServerLogAllocationsTests {
    /// Every buffer the independent test parser (`ServerMeasurement`) sees, by name and kind, must come out the
    /// same: the figures are exactly what the server printed.
    static func expectSameFigures(_ parsed: MeasuredAllocation, _ log: String) {
        let reference = ServerMeasurement.parse(log: log)
        let kinds: [(MeasuredAllocation.Kind, [String: UInt64])] = [
            (.model, reference.model), (.kvCache, reference.kvCache), (.compute, reference.compute),
            (.output, reference.output),
        ]
        for (kind, buffers) in kinds {
            let ours = Dictionary(
                parsed.buffers.filter { $0.kind == kind }.map { ($0.name, $0.bytes) }, uniquingKeysWith: +)
            #expect(ours == buffers, "\(kind): \(ours) against \(buffers)")
        }
        #expect(parsed.totalBytes == reference.total)
    }

    func model() throws -> (path: String, folder: String) {
        let folder = NSTemporaryDirectory() + "log-parser-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/dense.gguf"
        try TinyModels.write(try #require(TinyModels.kinds["dense"]), to: path)
        return (path, folder)
    }

    @Test func theNewerCPUBuildPrintsItsBuffersOnlyAtDebugVerbosity() async throws {
        let (path, folder) = try model()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let build = try AccuracyBuild.cpu()
        let arguments = ["-c", "512", "-np", "1", "-ngl", "0", "--device", "none", "--no-warmup"]
        let verbose = try await LlamaServerProbe.log(
            model: path, arguments: arguments + ["-lv", "4"], binary: build.binary)
        let parsed = try #require(ServerLogAllocations.parse(verbose), "no buffers in:\n\(verbose.suffix(3000))")
        Self.expectSameFigures(parsed, verbose)
        #expect(parsed.devices.isEmpty, "all host memory on the CPU: \(parsed.buffers)")
        #expect(parsed.bytes(device: nil) == parsed.totalBytes)
        #expect(Set(parsed.buffers.map(\.kind)) == Set(MeasuredAllocation.Kind.allCases))
        // At its default verbosity it prints none: not measured, not zero.
        let quiet = try await LlamaServerProbe.log(model: path, arguments: arguments, binary: build.binary)
        #expect(quiet.contains("listening on"), "\(quiet)")
        #expect(ServerLogAllocations.parse(quiet) == nil)
    }

    @Test func theOlderVulkanBuildPrintsDeviceAndHostBuffersAtItsDefaultVerbosity() async throws {
        let (path, folder) = try model()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let build = try AccuracyBuild.vulkan(legacy: true)
        let log = try await LlamaServerProbe.log(
            model: path, arguments: ["-c", "512", "-np", "1", "-ngl", "999", "--no-warmup"], binary: build.binary,
            environment: build.environment)
        let parsed = try #require(ServerLogAllocations.parse(log), "no buffers in:\n\(log.suffix(3000))")
        Self.expectSameFigures(parsed, log)
        #expect(parsed.devices == ["Vulkan0"])
        #expect(parsed.bytes(device: "Vulkan0") > 0 && parsed.bytes(device: nil) > 0)
        #expect(parsed.buffers.contains { $0.name == "Vulkan_Host" && $0.device == nil })
    }

    @Test func theNewerVulkanBuildAtDebugVerbosity() async throws {
        let (path, folder) = try model()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let build = try AccuracyBuild.vulkan(legacy: false)
        let log = try await LlamaServerProbe.log(
            model: path,
            arguments: ["-c", "512", "-np", "1", "-ngl", "all", "--fit", "off", "--no-warmup", "-lv", "4"],
            binary: build.binary, environment: build.environment)
        let parsed = try #require(ServerLogAllocations.parse(log), "no buffers in:\n\(log.suffix(3000))")
        Self.expectSameFigures(parsed, log)
        #expect(parsed.devices == ["Vulkan0"])
    }

    static let load = """
        build: 1 (4227c9b) with cc for x86_64-linux-gnu
        llama_model_loader: loaded meta data with 21 key-value pairs and 21 tensors from dense.gguf
        load_tensors:   CPU_Mapped model buffer size =     0.03 MiB
        load_tensors:      Vulkan0 model buffer size =   100.00 MiB
        llama_context: Vulkan_Host  output buffer size =     0.50 MiB
        llama_kv_cache_unified:    Vulkan0 KV buffer size =    20.00 MiB
        llama_context:    Vulkan0 compute buffer size =     6.63 MiB
        llama_context: Vulkan_Host compute buffer size =     2.26 MiB
        """

    @Test func perDeviceAndPerKind() throws {
        let parsed = try #require(ServerLogAllocations.parse(Self.load))
        #expect(parsed.bytes(device: "Vulkan0") == UInt64((126.63 * 1_048_576).rounded()))
        let host = [0.03, 0.50, 2.26].map { UInt64(($0 * 1_048_576).rounded()) }.reduce(0, +)
        #expect(parsed.bytes(device: nil) == host)
        #expect(parsed.buffers.map(\.kind) == [.model, .model, .output, .kvCache, .compute, .compute])
        #expect(MeasuredAllocation.Buffer(name: "CUDA0_Mapped", kind: .model, bytes: 1).device == "CUDA0")
        #expect(MeasuredAllocation.Buffer(name: "CPU_REPACK", kind: .model, bytes: 1).device == nil)
        #expect(MeasuredAllocation.Buffer(name: "CUDA_Host", kind: .compute, bytes: 1).device == nil)
    }

    @Test func anEarlierRunInTheSameTextDoesNotCount() throws {
        let earlier = Self.load.replacingOccurrences(of: "100.00 MiB", with: "900.00 MiB")
        let parsed = try #require(ServerLogAllocations.parse(earlier + "\nsrv: exiting\n" + Self.load))
        #expect(parsed == ServerLogAllocations.parse(Self.load))
        #expect(parsed.bytes(device: "Vulkan0") < 900 << 20)
    }

    /// A load starts at `build:` or the loader's first line, timestamped in newer builds; other lines don't.
    @Test func aLoadStartsWithTheLoadersFirstLineWithOrWithoutATimestamp() throws {
        let buffers = Self.load.split(separator: "\n").dropFirst(2).joined(separator: "\n")
        let earlier = buffers.replacingOccurrences(of: "100.00 MiB", with: "900.00 MiB")
        for line in [
            "llama_model_loader: loaded meta data with 21 key-value pairs", "build: 7000 (abc) with gcc",
            "0.00.008.040 I llama_model_loader: loaded meta data with 21 key-value pairs and 21 tensors",
        ] {
            let parsed = try #require(ServerLogAllocations.parse(earlier + "\n" + line + "\n" + buffers))
            #expect(parsed == ServerLogAllocations.parse(buffers), "\(line)")
        }
        for line in [
            "llama_model_loader: - kv   0: general.architecture str = llama", "srv: loaded meta data",
            "0.00.008.040 I llama_model_loader: dumping metadata keys/values", "", ":", "x build: 1",
        ] {
            let parsed = try #require(ServerLogAllocations.parse(earlier + "\n" + line + "\n" + buffers))
            #expect(parsed.bytes(device: "Vulkan0") > 1000 << 20, "\(line): the earlier buffers were dropped")
        }
    }

    @Test func aTruncatedLoadIsNotAMeasurement() {
        // Cut before the compute buffers: a partial sum would be a wrong number.
        let lines = Self.load.split(separator: "\n")
        for count in 0..<6 {
            #expect(ServerLogAllocations.parse(lines.prefix(count).joined(separator: "\n")) == nil, "\(count) lines")
        }
        // A later load that did not get far replaces the earlier complete one: not measured.
        #expect(ServerLogAllocations.parse(Self.load + "\n" + lines.prefix(3).joined(separator: "\n")) == nil)
    }

    @Test func noBufferLinesOrGarbageIsNotMeasured() {
        #expect(ServerLogAllocations.parse("") == nil)
        #expect(ServerLogAllocations.parse("srv  llama_server: listening on http://127.0.0.1:8080\n") == nil)
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<65536).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(ServerLogAllocations.parse(String(decoding: bytes, as: UTF8.self)) == nil)
    }

    @Test func interleavedAndMangledLinesAreSkippedNotMisread() throws {
        let text = """
            llama_model_loader: loaded meta data with 21 key-value pairs
            load_tensors:      Vulkan0 model buffer size =   100.00 MiB
            load_tensors:      Vulkan0 model buffer size =   1srv  update_slots: all slots are idle
            llama_context:    Vulkan0 compute buffer size = nan MiB
            llama_context:    Vulkan0 compute buffer size = -5.00 MiB
            llama_context:    Vulkan0 compute buffer size = 7.00 GiB
            llama_context:    Vulkan0 compute buffer size = 1e300 MiB
            llama_context:  Vulkan0 (x) compute buffer size = 3.00 MiB
            llama_context:    Vulkan0 compute buffer size =     6.00 MiB trailing
            llama_context:    Vulkan0 compute buffer size =     6.00 MiB
            """
        let parsed = try #require(ServerLogAllocations.parse(text))
        #expect(
            parsed.buffers == [
                .init(name: "Vulkan0", kind: .model, bytes: 100 << 20),
                .init(name: "Vulkan0", kind: .compute, bytes: 6 << 20),
            ])
    }
}
