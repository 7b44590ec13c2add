import GGUF
import Scheduler
import TestSupport
import Testing

/// Hostile metadata that still parses must not trap the profile, the estimator or the compute model.
@Suite struct EstimatorMutationTests {
    @Test func mutatedMetadataNeverTraps() throws {
        var writer = TinyModels.writer(for: TinyModels.tied)
        writer.set("llama.attention.sliding_window", .uint32(64))
        writer.set("llama.attention.sliding_window_pattern", .uint32(2))
        writer.set("llama.expert_count", .uint32(2))
        writer.set("llama.expert_used_count", .uint32(1))
        let seed = writer.headerOnlyBytes()
        let headerEnd = try GGUFFile.read(from: seed).dataOffset
        var generator = SplitMix64(seed: 42)
        let interesting: [UInt64] = [0, 1, 255, 65535, 65536, 1 << 31, 1 << 32, 1 << 62, UInt64.max, 1 << 63]
        var profiles = 0
        for _ in 0..<20_000 {
            var header = seed.header
            for _ in 0..<(1 + Int(generator.next() % 2)) {
                let offset = Int(generator.next() % headerEnd)
                var value = interesting[Int(generator.next() % UInt64(interesting.count))].littleEndian
                let width = [1, 2, 4, 8][Int(generator.next() % 4)]
                withUnsafeBytes(of: &value) { raw in
                    for index in 0..<width where offset + index < header.count { header[offset + index] = raw[index] }
                }
            }
            let source = HeaderOnlySource(header: header, size: seed.size)
            guard let file = try? GGUFFile.read(from: source),
                let profile = try? ModelProfile(model: GGUFModel(files: [file], paths: ["mutant"]))
            else { continue }
            profiles += 1
            let estimator = MemoryEstimator(profile: profile)
            for context in [1, 4096, 1 << 30] {
                var parameters = ServerParameters(contextSize: context)
                parameters.slots = 3
                parameters.deviceLayers = [.init(device: "gpu", layers: 1)]
                _ = try? estimator.estimate(parameters)
            }
            _ = estimator.kvBytesPerToken(typeK: .f32, typeV: .q4_0)
        }
        #expect(profiles > 1000)
    }
}
