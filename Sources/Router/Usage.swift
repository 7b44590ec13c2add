import NIOCore

/// Token counts from the end of an answer: OpenAI's `usage` (`prompt_tokens`, `completion_tokens`) or
/// llama-server's `timings` (`prompt_n`, `predicted_n`). Only the last few KiB are kept.
struct Usage: Sendable {
    var prompt: Int?
    var completion: Int?
    private var tail: [UInt8] = []

    static let kept = 8192

    /// Keeps the end of the answer.
    mutating func scan(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { bytes in
            if bytes.count >= Self.kept {
                tail = Array(bytes.suffix(Self.kept))
            } else {
                tail.append(contentsOf: bytes)
                if tail.count > 2 * Self.kept { tail.removeFirst(tail.count - Self.kept) }
            }
        }
    }

    /// Reads the counts from the end kept.
    mutating func parse() {
        if let value = Self.lastInteger(after: #""prompt_tokens":"#, in: tail)
            ?? Self.lastInteger(after: #""prompt_n":"#, in: tail)
        {
            prompt = value
        }
        if let value = Self.lastInteger(after: #""completion_tokens":"#, in: tail)
            ?? Self.lastInteger(after: #""predicted_n":"#, in: tail)
        {
            completion = value
        }
    }

    /// The integer after the last `key` in `bytes`. On bytes, not `String.range(of:)`: Foundation's search was 6 %
    /// of the daemon's time under load (`bench/router`).
    static func lastInteger(after key: String, in bytes: [UInt8]) -> Int? {
        let key = Array(key.utf8)
        guard bytes.count >= key.count else { return nil }
        var start = bytes.count - key.count
        while start >= 0 {
            if bytes[start] == key[0] && bytes[start..<start + key.count].elementsEqual(key) {
                var index = start + key.count
                while index < bytes.count && bytes[index] == UInt8(ascii: " ") { index += 1 }
                var value = 0
                var digits = 0
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"),
                    digits < 18
                {
                    value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                    digits += 1
                    index += 1
                }
                return digits > 0 ? value : nil
            }
            start -= 1
        }
        return nil
    }
}
