import Foundation
import GGUF
import OrchestratorCore
import TestSupport
import Testing

@Suite struct ProfileTests {
    static func profile(_ spec: TinyModelSpec) throws -> ModelProfile {
        let file = try GGUFFile.read(from: GGUFMemorySource(TinyModels.writer(for: spec).bytes()))
        return try ModelProfile(model: GGUFModel(files: [file], paths: [spec.name]))
    }

    @Test func denseGroupedQueryAttention() throws {
        let p = try Self.profile(TinyModels.dense)
        #expect(p.architecture == "llama" && p.name == "tiny-dense")
        #expect(p.layerCount == 2 && p.embeddingLength == 64 && p.feedForwardLength == 128)
        #expect(p.headCount == [2, 2] && p.headCountKV == [1, 1])
        #expect(p.keyLength == 32 && p.valueLength == 32)
        #expect(p.contextLength == 4096 && p.vocabularySize == 259 && p.expertCount == 0)
        #expect(!p.outputTiedToEmbedding)
        // Per layer: 2 norms of 64 F32, q/o 64×64, k/v 64×32, gate/up/down 64×128, all F16.
        let norms: UInt64 = 2 * 64 * 4
        let matrices: UInt64 = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128
        let layer: UInt64 = norms + matrices * 2
        #expect(p.layerBytes == [layer, layer])
        #expect(p.tokenEmbeddingBytes == 64 * 259 * 2)
        #expect(p.outputBytes == 64 * 4 + 64 * 259 * 2)
        #expect(p.tensorBytes == 2 * layer + p.tokenEmbeddingBytes + p.outputBytes)
        let embeddings: UInt64 = 2 * 64 * 259 + 64
        #expect(p.parameterCount == embeddings + 2 * (128 + matrices))
        #expect(p.quantization.map(\.type) == ["F16", "F32"])
    }

    @Test func mixtureOfExperts() throws {
        let p = try Self.profile(TinyModels.moe)
        #expect(p.expertCount == 4 && p.expertUsedCount == 2)
        // Three expert tensors of 64×64×4 F16 plus the router 64×4 F32.
        let experts: UInt64 = 3 * 64 * 64 * 4 * 2
        let router: UInt64 = 64 * 4 * 4
        let attention: UInt64 = 2 * 64 * 4 + (2 * 64 * 64 + 2 * 64 * 32) * 2
        let layer = experts + router + attention
        #expect(p.layerBytes == [layer, layer])
    }

    @Test func quantizedTypesAndRepackCandidates() throws {
        let q4 = try Self.profile(TinyModels.q4_0)
        #expect(q4.quantization.first?.type == "Q4_0")
        #expect(q4.tokenEmbeddingBytes == 64 * 259 / 32 * 18)
        // q (64 rows), k/v (32 rows), o (64), gate/up (128), down (64): all rows multiples of 8.
        #expect(q4.layerRepackCandidates[0]["Q4_0"] == q4.layerBytes[0] - 2 * 64 * 4)
        let q8 = try Self.profile(TinyModels.q8_0)
        #expect(q8.quantization.first?.type == "Q8_0")
        #expect(q8.outputBytes == 64 * 4 + 64 * 259 / 32 * 34)
    }

    @Test func tiedEmbeddingsAndPerLayerArrays() throws {
        let p = try Self.profile(TinyModels.tied)
        #expect(p.outputTiedToEmbedding)
        #expect(p.outputMatrixBytes == p.tokenEmbeddingBytes)
        #expect(p.outputBytes == 128 * 4 + p.tokenEmbeddingBytes)
        #expect(p.headCount == [4, 4, 4] && p.headCountKV == [2, 2, 2])
        // The tied copy is not a tensor of the file.
        #expect(p.tensorBytes == p.layerBytes.reduce(0, +) + p.tokenEmbeddingBytes + 128 * 4)
    }

    @Test func arraysPerLayerAndHeadDimensionsAreHonoured() throws {
        var writer = TinyModels.writer(for: TinyModels.dense)
        writer.set("llama.attention.head_count_kv", .array(.int32([1, 2])))
        writer.set("llama.attention.key_length", .uint32(48))
        writer.set("llama.attention.sliding_window", .uint32(128))
        writer.set("llama.attention.sliding_window_pattern", .array(.bool([true, false])))
        let file = try GGUFFile.read(from: GGUFMemorySource(writer.bytes()))
        let p = try ModelProfile(model: GGUFModel(files: [file], paths: ["x"]))
        #expect(p.headCountKV == [1, 2] && p.kvHeads(layer: 1) == 2)
        #expect(p.keyLength == 48 && p.valueLength == 32)
        #expect(p.slidingWindow == 128 && p.slidingWindowLayers == [true, false])
    }

    /// A hostile file's block numbers: not digits, negative, past every array. Such tensors count as the model's
    /// other weights; none may index a layer (a `blk.-1.` tensor crashed the profile).
    @Test func blockNumbersThatAreNotALayerAreOtherWeights() throws {
        var writer = TinyModels.writer(for: TinyModels.dense)
        let names = [
            "blk.-1.attn_norm.weight", "blk.+1.attn_norm.weight", "blk..x.weight", "blk.1e3.x.weight",
            "blk.99999999999999999999.x.weight",
        ]
        for name in names { writer.add(TensorSpec(name, [64], .f32)) }
        let file = try GGUFFile.read(from: GGUFMemorySource(writer.bytes()))
        let hostile = try ModelProfile(model: GGUFModel(files: [file], paths: ["hostile"]))
        let plain = try Self.profile(TinyModels.dense)
        #expect(hostile.layerBytes == plain.layerBytes)
        #expect(hostile.otherBytes == plain.otherBytes + UInt64(names.count * 64 * 4))
        #expect(plain.layerBytes.allSatisfy { $0 > 0 }, "the model's own blocks are still its layers")
    }

    /// A block count past any real model is refused by name and offset, before the placer would price every split
    /// of it (65,536 blocks planned for hours).
    @Test func aBlockCountPastAnyRealModelIsRefused() throws {
        var writer = TinyModels.writer(for: TinyModels.dense)
        writer.set("llama.block_count", .uint32(UInt32(ModelProfile.maxBlockCount + 1)))
        let file = try GGUFFile.read(from: GGUFMemorySource(writer.bytes()))
        do {
            _ = try ModelProfile(model: GGUFModel(files: [file], paths: ["many-blocks.gguf"]))
            Issue.record("a model of \(ModelProfile.maxBlockCount + 1) blocks was profiled")
        } catch {
            #expect(error.kind == .badMetadata && error.offset != nil)
            #expect(error.description.contains("llama.block_count") && error.description.contains("2049"))
        }
    }

    @Test func missingArchitectureIsAnError() throws {
        var writer = GGUFWriter()
        writer.set("general.name", .string("x"))
        let file = try GGUFFile.read(from: GGUFMemorySource(writer.bytes()))
        #expect(throws: GGUFError.self) { try ModelProfile(model: GGUFModel(files: [file], paths: ["x"])) }
    }
}
