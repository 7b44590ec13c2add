import GGUFWriter

/// A small deterministic generator (the fixtures' SplitMix64): random tests draw the same values on every run, and
/// a failure names a seed that reproduces it.
public struct SeededGenerator: RandomNumberGenerator {
    private var base: SplitMix64

    public init(seed: UInt64) {
        base = SplitMix64(seed: seed)
    }

    public mutating func next() -> UInt64 {
        base.next()
    }
}
