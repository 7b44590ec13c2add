import Foundation
import OrchestratorCore
import Scheduler
import TestSupport
import Testing

/// A validated config for a fake model at `/tmp/.../m.gguf`, through the real validator.
func sampleConfig(extra: String = "") throws -> InstanceConfig {
    let project = try TemporaryProject("sample")
    defer { project.remove() }
    try project.writeFakeModel("models/m.gguf")
    let json = """
        {"name": "demo", "model": {"path": "/models/m.gguf", "context_size": 2048, "batch_size": 512, "ubatch_size": 256,
          "cache_type_k": "q8_0", "cache_type_v": "q8_0", "flash_attention": "on"},
         "server": {"port": 8123, "parallel": 2}, "env": {"FOO": "bar"}, "args": ["--metrics"]\(extra)}
        """.replacingOccurrences(of: "/models/m.gguf", with: project.root + "/models/m.gguf")
    let report = ConfigValidator(knownNames: KnownNames(backends: ["cpu", "vulkan"])).validate(
        bytes: Array(json.utf8), file: "config.json", folder: project.root, expectedName: "demo")
    var config = try report.get()
    config.model.resolvedPath = "/models/m.gguf"
    return config
}

func placement(
    mode: PlacementMode, blocks: Int, output: Bool, of total: Int, shares: [(String, Int, Bool)]
) -> Placement {
    var first = total - blocks
    let shareValues = shares.map { name, count, holdsOutput in
        defer { first += count }
        return DeviceShare(
            deviceID: name, llamaName: name, firstBlock: first, blockCount: count, holdsOutput: holdsOutput, bytes: 1)
    }
    return Placement(
        instance: "demo", mode: mode, shares: shareValues, offloadedBlocks: blocks, offloadsOutput: output,
        blockCount: total, hostBytes: 1, reasons: [])
}

let newHelp = """
    -t,    --threads N                      number of CPU threads
    -fa,   --flash-attn [on|off|auto]       set Flash Attention use ('on', 'off', or 'auto', default: 'auto')
    -dev,  --device <dev1,dev2,..>          comma-separated list of devices to use for offloading (none = don't
                                            offload)
    -ngl,  --gpu-layers, --n-gpu-layers N   max. number of layers to store in VRAM, either an exact number,
                                            'auto', or 'all' (default: auto)
    -fit,  --fit [on|off]                   whether to adjust unset arguments to fit in device memory
    --port PORT                             port to listen
    -a,    --alias STRING                   set alias
    -kvu,  --kv-unified                     use single unified KV buffer
    """

let oldHelp = """
    -fa,   --flash-attn                     enable Flash Attention (default: disabled)
    -dev,  --device <dev1,dev2,..>          comma-separated list of devices to use for offloading (none = don't
                                            offload)
    -ngl,  --gpu-layers, --n-gpu-layers N   number of layers to store in VRAM
    --port PORT                             port to listen
    -a,    --alias STRING                   set alias
    """

@Suite struct CommandBuilderTests {
    @Test func capabilitiesFromHelpText() {
        let newer = LlamaServerBinary.Capabilities(versionText: "version: 0.6.0-dev (build 0)\n", helpText: newHelp)
        #expect(newer.hasFit && newer.nglAcceptsAll && newer.flashAttentionTakesValue && newer.deviceAcceptsNone)
        #expect(newer.offloadOrder == .outputFirst)
        #expect(newer.version == "0.6.0-dev (build 0)")
        let older = LlamaServerBinary.Capabilities(versionText: "version: 6152 (abc)\n", helpText: oldHelp)
        #expect(!older.hasFit && !older.nglAcceptsAll && !older.flashAttentionTakesValue)
        #expect(older.offloadOrder == .outputLast)
    }

    @Test func newerBuildGetsFitOffNglInItsMeaningAndValueFlags() throws {
        let binary = LlamaServerBinary(
            path: "/bin/llama-server", capabilities: .init(versionText: "version: new", helpText: newHelp))
        let builder = CommandBuilder(binary: binary, defaultThreads: 6)
        let partial = placement(mode: .partialOffload, blocks: 9, output: true, of: 32, shares: [("Vulkan0", 9, true)])
        let command = builder.command(
            for: try sampleConfig(), placement: partial,
            launch: LaunchSettings(deviceNames: ["Vulkan0"], environment: ["GGML_VK_VISIBLE_DEVICES": "0"]))
        #expect(
            command.argv == [
                "/bin/llama-server", "-m", "/models/m.gguf", "--host", "127.0.0.1", "--port", "8123", "-c", "2048",
                "-np", "2",
                "-b", "512", "-ub", "256", "-t", "6", "--device", "Vulkan0", "-ngl", "10", "--split-mode", "none",
                "--fit", "off",
                "-ctk", "q8_0", "-ctv", "q8_0", "-fa", "on", "--alias", "demo", "--metrics",
            ])
        #expect(command.environment == ["FOO": "bar", "GGML_VK_VISIBLE_DEVICES": "0"])
        let full = placement(
            mode: .multiGPU, blocks: 32, output: true, of: 32, shares: [("Vulkan0", 20, false), ("Vulkan1", 12, true)])
        let split = builder.command(
            for: try sampleConfig(), placement: full, launch: LaunchSettings(deviceNames: [], environment: [:]))
        #expect(split.argv.contains("all"))
        #expect(
            split.argv.joined(separator: " ").contains(
                "--device Vulkan0,Vulkan1 -ngl all --split-mode layer --tensor-split 20,13"))
        let cpu = placement(mode: .cpuOnly, blocks: 0, output: false, of: 32, shares: [])
        let cpuLine = builder.command(
            for: try sampleConfig(), placement: cpu, launch: .init(deviceNames: [], environment: [:])
        ).argv.joined(separator: " ")
        #expect(cpuLine.contains("-ngl 0 --device none"))
    }

    @Test func olderBuildGetsBlocksOnlyAnd999AndABareFlashSwitch() throws {
        let binary = LlamaServerBinary(
            path: "/old/llama-server", capabilities: .init(versionText: "version: 6152", helpText: oldHelp))
        let builder = CommandBuilder(binary: binary, defaultThreads: 4)
        let partial = placement(
            mode: .partialOffload, blocks: 9, output: false, of: 32, shares: [("Vulkan0", 9, false)])
        let line = builder.command(
            for: try sampleConfig(), placement: partial, launch: .init(deviceNames: [], environment: [:])
        ).argv
        #expect(line.joined(separator: " ").contains("-ngl 9 "))
        #expect(!line.contains("--fit"))
        #expect(line.contains("-fa") && !line.contains("on"))
        let full = placement(mode: .singleGPU, blocks: 32, output: true, of: 32, shares: [("Vulkan0", 32, true)])
        #expect(
            builder.command(for: try sampleConfig(), placement: full, launch: .init(deviceNames: [], environment: [:]))
                .argv.contains("999"))
    }

    @Test func detectsTheRealBinaryAndCachesIt() async throws {
        let path = try realLlamaServer()
        let project = try TemporaryProject("caps")
        defer { project.remove() }
        let locator = LlamaServerLocator(
            environment: ["LLAMA_SERVER": path], projectRoot: nil, cacheFile: project.root + "/caps.json")
        let binary = try await locator.binary(configured: nil)
        #expect(binary.path == path)
        #expect(binary.capabilities.hasFit)
        #expect(binary.capabilities.nglAcceptsAll)
        #expect(binary.capabilities.offloadOrder == .outputFirst)
        #expect(binary.capabilities.flashAttentionTakesValue)
        #expect(project.read("caps.json")?.contains(path) == true)
        // A second detection is served from the cache file.
        #expect(try await locator.capabilities(of: path) == binary.capabilities)
    }

    @Test func detectsTheOlderRealBinary() async throws {
        let path = try realLlamaServer(old: true)
        let locator = LlamaServerLocator(environment: [:], projectRoot: nil)
        let capabilities = try await locator.capabilities(of: path)
        #expect(!capabilities.hasFit)
        #expect(!capabilities.nglAcceptsAll)
        #expect(capabilities.offloadOrder == .outputLast)
        #expect(!capabilities.flashAttentionTakesValue)
        #expect(capabilities.hasDevice && capabilities.hasAlias)
    }

    @Test func searchOrderAndAMissingBinary() throws {
        let project = try TemporaryProject("search")
        defer { project.remove() }
        let fake = try project.write("bin/llama-server", "#!/bin/sh\necho 'version: 1'\necho '--port'\n")
        chmod(fake, 0o755)
        let root = ProjectRoot(path: project.root)
        let locator = LlamaServerLocator(
            environment: ["LLAMA_SERVER": "/nonexistent", "PATH": "/nonexistent-dir"], projectRoot: root)
        #expect(try locator.locate(configured: nil) == fake)
        #expect(
            locator.candidates(configured: "/x").map(\.source) == [
                "binary.path", "project bin/", "LLAMA_SERVER", "PATH",
            ])
        let empty = LlamaServerLocator(
            environment: ["PATH": "/nonexistent-dir", "HOME": "/nonexistent"], projectRoot: nil)
        #expect(throws: LlamaServerError.self) { try empty.locate(configured: nil) }
        do {
            _ = try empty.locate(configured: nil)
        } catch {
            #expect(error.exitCode == .binaryMissing)
            #expect(error.description.contains("scripts/build-llama-server.sh"))
        }
        #expect(throws: LlamaServerError.notExecutable("/nope", source: "binary.path")) {
            try empty.locate(configured: "/nope")
        }
    }
}
