import Foundation
import GGUF
import OrchestratorCore
import TestSupport
import Testing

/// A seeded mutation run over the fixtures: every mutated file either reads or is refused with a `GGUFError`.
///
/// Mutations run on in-memory bytes in a tight loop (no file system), mostly aimed at the header, where the
/// reader's decisions are. A crash or a hang fails the whole test run; anything found is added to
/// `regressions` so it stays fixed.
@Suite struct MutationTests {
    /// One mutation, replayable.
    struct Regression: Sendable, CustomTestStringConvertible {
        let name: String
        let edits: [(offset: Int, bytes: [UInt8])]
        let truncate: Int?

        func apply(to bytes: inout [UInt8]) {
            for edit in edits where edit.offset + edit.bytes.count <= bytes.count {
                bytes.replaceSubrange(edit.offset..<(edit.offset + edit.bytes.count), with: edit.bytes)
            }
            if let truncate, truncate < bytes.count { bytes.removeSubrange(truncate...) }
        }

        var testDescription: String { name }
    }

    /// Inputs the mutation run (or review) found dangerous; none crashes now.
    static let regressions: [Regression] = [
        // Tensor count set to all ones: once allocated before checking the remaining bytes.
        Regression(name: "tensor count all ones", edits: [(8, [UInt8](repeating: 0xFF, count: 8))], truncate: nil),
        // Metadata count with the top bit set.
        Regression(name: "key count 2^63", edits: [(16, [0, 0, 0, 0, 0, 0, 0, 0x80])], truncate: nil),
        // First key's length as large as Int.max: would trap converting to Int.
        Regression(
            name: "key length Int.max", edits: [(24, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])], truncate: nil),
    ]

    static let mutationCount = 100_000

    @Test func hundredThousandMutationsNeverCrash() throws {
        let seeds = [TinyModels.mini, TinyModels.moe, TinyModels.tied, TinyModels.q4_0].map {
            var spec = $0
            spec.randomWeights = false
            return TinyModels.writer(for: spec).bytes()
        }
        let headerEnds = try seeds.map { try GGUFFile.read(from: GGUFMemorySource($0)).dataOffset }
        var generator = SplitMix64(seed: 0x6767_7566)
        var refused = 0
        var read = 0
        let started = ContinuousClock.now
        for iteration in 0..<Self.mutationCount {
            var bytes = seeds[iteration % seeds.count]
            mutate(&bytes, headerEnd: Int(headerEnds[iteration % seeds.count]), using: &generator)
            do {
                let file = try GGUFFile.read(from: GGUFMemorySource(bytes))
                // Whatever reads must be self-consistent.
                for tensor in file.tensors {
                    #expect(file.dataOffset + tensor.offset + tensor.byteCount <= UInt64(bytes.count))
                }
                // The profile of whatever reads is built without trapping (it may refuse absurd metadata).
                _ = try? ModelProfile(model: GGUFModel(files: [file], paths: ["mutant"]))
                read += 1
            } catch {
                #expect(error.exitCode == .modelInvalid)
                refused += 1
            }
        }
        let elapsed = ContinuousClock.now - started
        #expect(read + refused == Self.mutationCount)
        #expect(refused > Self.mutationCount / 2, "most mutations of a header should be refused")
        #expect(elapsed < .seconds(300), "the mutation run took \(elapsed)")
    }

    /// One to three random edits, weighted towards the header and towards interesting values.
    func mutate(_ bytes: inout [UInt8], headerEnd: Int, using generator: inout SplitMix64) {
        let edits = 1 + Int(generator.next() % 3)
        for _ in 0..<edits {
            let inHeader = generator.next() % 8 != 0
            let limit = inHeader ? min(max(headerEnd, 1), bytes.count) : bytes.count
            guard limit > 0 else { return }
            let offset = Int(generator.next() % UInt64(limit))
            switch generator.next() % 7 {
            case 0: bytes[offset] ^= UInt8(1 << (generator.next() % 8))
            case 1: bytes[offset] = UInt8(truncatingIfNeeded: generator.next())
            case 2, 3:
                let interesting: [UInt64] = [
                    0, 1, 2, 4, 5, 9, 12, 13, 31, 32, 33, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 32, 1 << 62,
                    1 << 63, UInt64.max, UInt64.max - 1, UInt64(bytes.count), UInt64(bytes.count) + 1,
                ]
                var value = interesting[Int(generator.next() % UInt64(interesting.count))].littleEndian
                let width = [1, 2, 4, 8][Int(generator.next() % 4)]
                withUnsafeBytes(of: &value) { raw in
                    for index in 0..<width where offset + index < bytes.count { bytes[offset + index] = raw[index] }
                }
            case 4: bytes.removeSubrange(offset...)
            case 5:
                let count = Int(generator.next() % 16) + 1
                bytes.removeSubrange(offset..<min(bytes.count, offset + count))
            default:
                let count = Int(generator.next() % 16) + 1
                bytes.insert(
                    contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }, at: offset)
            }
            if bytes.isEmpty { return }
        }
    }
}
