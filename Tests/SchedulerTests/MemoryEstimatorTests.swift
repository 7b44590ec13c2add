import Foundation
import GGUF
import OrchestratorCore
import Scheduler
import TestSupport
import Testing

/// The estimator's rules, on fixture profiles, without a server.
@Suite struct MemoryEstimatorTests {
    static func profile(_ spec: TinyModelSpec) throws -> ModelProfile {
        let file = try GGUFFile.read(from: TinyModels.writer(for: spec).headerOnlyBytes())
        return try ModelProfile(model: GGUFModel(files: [file], paths: [spec.name]))
    }

    @Test func contextIsPaddedAndSplitPerSlot() throws {
        let profile = try Self.profile(TinyModels.dense)
        var parameters = ServerParameters(contextSize: 1000)
        parameters.slots = 3
        let cells = MemoryEstimator.kvCells(parameters: parameters, profile: profile)
        // 1000 → 1024; 1024 / 3 = 341 → 512 per slot; n_ctx becomes 1536.
        #expect(cells.perStream == 512 && cells.streams == 3 && cells.context == 1536)
        parameters.unifiedKV = true
        let unified = MemoryEstimator.kvCells(parameters: parameters, profile: profile)
        #expect(unified.perStream == 1024 && unified.streams == 1 && unified.context == 1024)
    }

    @Test func kvBytesFollowTheReferenceExample() throws {
        // 32 layers, 8 KV heads of 128: f16 is 128 KiB per token; q8_0 68 KiB.
        var spec = TinyModelSpec(
            name: "ref", layers: 32, embedding: 4096, heads: 32, kvHeads: 8, feedForward: 14336, vocabulary: 259)
        spec.randomWeights = false
        let estimator = MemoryEstimator(profile: try Self.profile(spec))
        #expect(estimator.kvBytesPerToken(typeK: .f16, typeV: .f16) == 128 * 1024)
        #expect(estimator.kvBytesPerToken(typeK: .q8_0, typeV: .q8_0) == 68 * 1024)
        var parameters = ServerParameters(contextSize: 4096)
        parameters.cacheTypeK = "q8_0"
        parameters.cacheTypeV = "q8_0"
        #expect(try estimator.estimate(parameters).host.kvCache == 4096 * 68 * 1024)
    }

    @Test func slidingWindowLayersHoldFewerCells() throws {
        var writer = TinyModels.writer(for: TinyModels.dense)
        writer.set("general.architecture", .string("gemma2"))
        writer.metadata = writer.metadata.map { entry in
            (entry.key.replacingOccurrences(of: "llama.", with: "gemma2."), entry.value)
        }
        writer.set("gemma2.attention.sliding_window", .uint32(300))
        let file = try GGUFFile.read(from: writer.headerOnlyBytes())
        let profile = try ModelProfile(model: GGUFModel(files: [file], paths: ["swa"]))
        // gemma2's default pattern 2: layer 0 sliding, layer 1 full.
        #expect(profile.slidingWindowLayers == [true, false])
        var parameters = ServerParameters(contextSize: 8192)
        parameters.slots = 2
        let cells = MemoryEstimator.kvCells(parameters: parameters, profile: profile)
        // Per stream min(4096, 300 + 512) = 812 → 1024 cells, times 2 streams.
        #expect(cells.slidingWindow == 2048)
        parameters.swaFull = true
        #expect(MemoryEstimator.kvCells(parameters: parameters, profile: profile).slidingWindow == 8192)
    }

    @Test func layersGoToDevicesOutputLayerLast() throws {
        let profile = try Self.profile(TinyModels.tied)
        let estimator = MemoryEstimator(profile: profile)
        var parameters = ServerParameters(contextSize: 2048)
        // 3 blocks + output = 4 layers; 2 on devices: block 2 to gpu0, output to gpu1.
        parameters.deviceLayers = [.init(device: "gpu0", layers: 1), .init(device: "gpu1", layers: 1)]
        let estimate = try estimator.estimate(parameters)
        #expect(estimate.perDevice.map(\.layers) == [[2], [3]])
        #expect(estimate.hostLayers == [0, 1])
        #expect(estimate.perDevice[0].usage.weights == profile.layerBytes[2])
        // Tied: the output device holds a copy of the token embedding; the host keeps the original.
        #expect(profile.outputTiedToEmbedding)
        #expect(estimate.perDevice[1].usage.weights == profile.outputBytes)
        #expect(estimate.perDevice[1].usage.weights > profile.tokenEmbeddingBytes)
        #expect(
            estimate.host.weights == profile.layerBytes[0] + profile.layerBytes[1] + profile.tokenEmbeddingBytes)
        // KV of block 2 on gpu0, none on the output layer's device.
        #expect(estimate.perDevice[0].usage.kvCache > 0 && estimate.perDevice[1].usage.kvCache == 0)
        #expect(estimate.perDevice[1].usage.compute > 0)
        parameters.kvOffload = false
        let noOffload = try estimator.estimate(parameters)
        #expect(noOffload.perDevice[0].usage.kvCache == 0)
        #expect(noOffload.host.kvCache == estimate.host.kvCache + estimate.perDevice[0].usage.kvCache)
        // All on the host: tied output counted once.
        let hostOnly = try estimator.estimate(ServerParameters(contextSize: 2048))
        #expect(hostOnly.host.weights == profile.tensorBytes)
    }

    @Test func fullOffloadLeavesEmbeddingAndOutputBufferOnHost() throws {
        let profile = try Self.profile(TinyModels.dense)
        var parameters = ServerParameters(contextSize: 4096)
        parameters.slots = 4
        parameters.deviceLayers = [.init(device: "Vulkan0", layers: profile.layerCount + 1)]
        parameters.deviceOverhead = 100
        let estimate = try MemoryEstimator(profile: profile).estimate(parameters)
        #expect(estimate.hostLayers.isEmpty)
        #expect(estimate.host.weights == profile.tokenEmbeddingBytes)
        #expect(estimate.host.kvCache == 0)
        #expect(estimate.host.output == UInt64(profile.vocabularySize) * 4 * 4)
        // Beside a GPU the host graph keeps the inputs (16 bytes per embedding element per token in newer builds)
        // and the f16 mask of one stream (1024 cells here), as measured with Vulkan on lavapipe.
        #expect(estimate.host.compute == UInt64(512 * profile.embeddingLength * 16 + 1024 * 512 * 2))
        #expect(estimate.perDevice[0].usage.overhead == 100)
        #expect(estimate.total.weights == profile.tensorBytes)
        let data = try JSONEncoder().encode(estimate)
        #expect(try JSONDecoder().decode(MemoryEstimate.self, from: data) == estimate)
        #expect(String(decoding: data, as: UTF8.self).contains("\"total\""))
    }

    @Test func repackedCopiesCountOnTheHost() throws {
        let profile = try Self.profile(TinyModels.wideFFN)
        var parameters = ServerParameters(contextSize: 512)
        let repacked = try MemoryEstimator(profile: profile).estimate(parameters).host.weights
        parameters.cpuRepack = .none
        let plain = try MemoryEstimator(profile: profile).estimate(parameters).host.weights
        #expect(plain == profile.tensorBytes)
        #expect(repacked > plain)
    }

    /// `-b 256 -ub 512` runs ubatches of 256 (measured: large fixture, -c 4096, compute 15.26 MiB).
    @Test func ubatchIsCappedByBatch() throws {
        let profile = try Self.profile(TinyModels.large)
        var parameters = ServerParameters(contextSize: 4096)
        parameters.batchSize = 256
        let compute = try MemoryEstimator(profile: profile).estimate(parameters).host.compute
        #expect(abs(Double(compute) / 1_048_576 - 15.26) < 0.05)
    }

    @Test func refusesWhatLlamaCppRefuses() throws {
        let estimator = MemoryEstimator(profile: try Self.profile(TinyModels.dense))
        var parameters = ServerParameters(contextSize: 512)
        parameters.cacheTypeV = "q8_0"
        parameters.flashAttention = false
        #expect(throws: EstimateError.self) { try estimator.estimate(parameters) }
        parameters.cacheTypeV = "bogus"
        #expect(throws: EstimateError.self) { try estimator.estimate(parameters) }
        parameters = ServerParameters(contextSize: 512)
        parameters.deviceLayers = [.init(device: "gpu", layers: 99)]
        #expect(throws: EstimateError.self) { try estimator.estimate(parameters) }
        let small = MemoryEstimator(profile: try Self.profile(TinyModels.mini))
        parameters = ServerParameters(contextSize: 512)
        parameters.cacheTypeK = "q8_0"
        do {
            _ = try small.estimate(parameters)
            Issue.record("head dimension 16 with a q8_0 cache was accepted")
        } catch {
            #expect(error.description.contains("head dimension 16"))
            #expect(error.exitCode == .configInvalid)
        }
    }
}

extension GGUFWriter {
    /// The header, as a source that claims the full file size (the profile never reads the data), so that a
    /// 7B-parameter shape costs a few KB.
    func headerOnlyBytes() -> HeaderOnlySource {
        let header = headerBytes()
        return HeaderOnlySource(header: header, size: UInt64(header.count) + layout().dataBytes)
    }
}

/// A byte source with a real header and an imaginary, all-zero data section.
struct HeaderOnlySource: GGUFByteSource {
    let header: [UInt8]
    let size: UInt64

    func read(at offset: UInt64, count: Int) throws(GGUFError) -> [UInt8] {
        guard offset < size, count > 0 else { return [] }
        let wanted = Int(min(UInt64(count), size - offset))
        var bytes = [UInt8](repeating: 0, count: wanted)
        if offset < UInt64(header.count) {
            let start = Int(offset)
            let end = min(header.count, start + wanted)
            bytes.replaceSubrange(0..<(end - start), with: header[start..<end])
        }
        return bytes
    }
}

/// The older llama.cpp's compute graph (logits for every token of the ubatch).
@Suite struct LegacyComputeTests {
    @Test func legacyGraphAddsLogitsForEveryToken() throws {
        let profile = try MemoryEstimatorTests.profile(TinyModels.large)
        var parameters = ServerParameters(contextSize: 4096)
        let current = try MemoryEstimator(profile: profile).estimate(parameters).host.compute
        parameters.legacyComputeGraph = true
        let legacy = try MemoryEstimator(profile: profile).estimate(parameters).host.compute
        // Measured on llama-cpp-python 0.3.16's llama-server: 64.50 MiB; the current build: 30.52 MiB.
        #expect(legacy == 32000 * 512 * 4 + 512 * 1024 * 8)
        #expect(abs(Double(legacy) / 1_048_576 - 64.50) < 3)
        #expect(abs(Double(current) / 1_048_576 - 30.52) < 0.1)
    }
}

/// Where each weight goes (`WeightBuffers`), on the 8B fixture's header: token_embd first in the file, the blocks,
/// output_norm, then output.weight last. The server-backed checks are in RealisticScaleAccuracyTests.
@Suite struct WeightBufferTests {
    static let mib = UInt64(1 << 20)

    @Test func onTheCPURepackedCopiesIncludeTheOutputAndTheMappedSpanSkipsOnlyTheFilesEnds() throws {
        let profile = try MemoryEstimatorTests.profile(TinyModels.llama8B)
        let estimate = try MemoryEstimator(profile: profile).estimate(ServerParameters(contextSize: 8192))
        let output = try #require(profile.weights.first { $0.name == "output.weight" })
        let blockMatrices = profile.weights.filter {
            $0.layer ?? -1 < 32 && $0.operation == ModelProfile.Weight.Operation.matrixMultiply
        }
        // Every Q4_0 matrix has rows that are a multiple of 8: all repacked, the output matrix too.
        #expect(estimate.hostRepackedBytes == blockMatrices.reduce(0) { $0 + $1.bytes } + output.bytes)
        // Norms between the repacked matrices stay mapped, so the span runs from token_embd to output_norm: the
        // whole data section but the output matrix at its end.
        let end = profile.weights.map { $0.offset + $0.bytes }.max() ?? 0
        #expect(estimate.hostMappedBytes == end - output.bytes)
        #expect(estimate.host.weights == estimate.hostMappedBytes + estimate.hostRepackedBytes)
    }

    @Test func aLoadedGPUTakesHostWeightsBeforeTheRepackedBufferAndRefusesWhatIsTooLarge() throws {
        let profile = try MemoryEstimatorTests.profile(TinyModels.llama8B)
        var parameters = ServerParameters(contextSize: 8192)
        parameters.deviceLayers = [.init(device: "Vulkan0", layers: 8, maxTensorBytes: 128 * Self.mib)]
        let estimate = try MemoryEstimator(profile: profile).estimate(parameters)
        let output = try #require(profile.weights.first { $0.name == "output.weight" })
        #expect(output.bytes > 128 * Self.mib)
        // The output matrix is refused by the device and by its pinned host buffer: only it is repacked.
        #expect(estimate.refusedByDevice == ["output.weight"])
        #expect(estimate.hostRepackedBytes == output.bytes)
        let blocks = (25..<32).map { profile.layerBytes[$0] }.reduce(0, +)
        let outputNorm = try #require(profile.weights.first { $0.name == "output_norm.weight" })
        #expect(estimate.perDevice[0].usage.weights == blocks + outputNorm.bytes)
        // Op offload: the newer build adds the largest host weight it may multiply there.
        let largest = profile.weights.filter {
            ($0.layer ?? 99) < 25 && $0.operation == ModelProfile.Weight.Operation.matrixMultiply
        }
        .map { $0.bytes }.max()
        #expect(estimate.opOffload?.bytes == largest)
        // Without the limit the output goes to the device and nothing is repacked.
        parameters.deviceLayers[0].maxTensorBytes = nil
        let unlimited = try MemoryEstimator(profile: profile).estimate(parameters)
        #expect(unlimited.hostRepackedBytes == 0 && unlimited.refusedByDevice.isEmpty)
        #expect(unlimited.perDevice[0].usage.weights == blocks + outputNorm.bytes + output.bytes)
    }

    @Test func olderBuildsKeepTheOutputOnTheHostAndCopyItForLargeBatches() throws {
        let profile = try MemoryEstimatorTests.profile(TinyModels.llama8B)
        var parameters = ServerParameters(contextSize: 4096)
        parameters.slots = 2
        parameters.legacyComputeGraph = true
        // Five layers in the estimator's terms: -ngl 4, the last four blocks; the output stays on the host.
        parameters.deviceLayers = [.init(device: "Vulkan0", layers: 5, maxTensorBytes: 128 * Self.mib)]
        let estimate = try MemoryEstimator(profile: profile).estimate(parameters)
        #expect(estimate.perDevice[0].layers == [28, 29, 30, 31])
        #expect(estimate.perDevice[0].usage.weights == (28..<32).map { profile.layerBytes[$0] }.reduce(0, +))
        #expect(estimate.hostRepackedBytes == 0)
        // The device's compute buffer holds the output matrix, the logits of 512 tokens and the normed input.
        let output = try #require(profile.weights.first { $0.name == "output.weight" })
        #expect(estimate.opOffload?.weights == ["output.weight"])
        let logits: UInt64 = 128256 * 512 * 4
        let normed: UInt64 = 4096 * 512 * 4
        #expect(estimate.perDevice[0].usage.compute == output.bytes + logits + normed)
        parameters.opOffload = false
        let without = try MemoryEstimator(profile: profile).estimate(parameters)
        #expect(without.opOffload == nil)
        #expect(without.perDevice[0].usage.compute < estimate.perDevice[0].usage.compute)
        #expect(without.host.compute > estimate.host.compute)
    }

    @Test func aTiedQ4_0OutputOnTheCPUIsARepackedCopyOfTheEmbedding() throws {
        var spec = TinyModels.q4_0
        spec.vocabulary = 2048
        spec.separateOutput = false
        let profile = try MemoryEstimatorTests.profile(spec)
        let embedding = try #require(profile.weights.first { $0.name == "token_embd.weight" })
        let cpu = try MemoryEstimator(profile: profile).estimate(ServerParameters(contextSize: 512))
        let matrices = profile.weights.filter {
            $0.layer ?? -1 < profile.layerCount && $0.operation == ModelProfile.Weight.Operation.matrixMultiply
        }
        #expect(cpu.hostRepackedBytes == matrices.reduce(0) { $0 + $1.bytes } + embedding.bytes)
    }
}
