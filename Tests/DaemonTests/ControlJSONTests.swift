import ControlAPI
import Foundation
import TestSupport
import Testing

/// `InstanceStatus.controlJSON` writes the bytes `JSONEncoder.control` would: `ps --json` prints the daemon's
/// answer as it came, and the dashboard and scripts decode it.
@Suite struct ControlJSONTests {
    private static let texts = [
        "", "demo", "a \"quoted\" word", #"back\slash"#, "models/llama/7b.gguf", "tab\tnew\nline\r",
        "\u{0}\u{1}\u{8}\u{b}\u{c}\u{e}\u{f}\u{10}\u{1a}\u{1b}\u{1f}", "del\u{7f}", "ünïcödé ✓ 😀",
        "exited with status 1; restart 2 in 0.4 s",
    ]
    private static let numbers: [Double] = [
        0, -0.0, 1, 0.1, 1_796_056_537, 1_796_056_537.123456, 1_796_056_537.5, 1e16, 1e-7, 123_456_789_012.25,
    ]

    private static func status(_ random: inout SplitMix64) -> InstanceStatus {
        func text() -> String { texts.randomElement(using: &random)! }
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { Bool.random(using: &random) ? value() : nil }
        return InstanceStatus(
            name: text(), state: text(), desiredState: text(), health: text(),
            pid: maybe(Int32.random(in: 1...4_194_304, using: &random)),
            port: maybe(Int.random(in: 1...65535, using: &random)),
            backend: maybe(text()), devices: maybe(text()), model: maybe(text()),
            startedAt: maybe(numbers.randomElement(using: &random)!),
            restarts: Int.random(in: 0...1000, using: &random),
            reason: maybe(text()), since: maybe(numbers.randomElement(using: &random)!))
    }

    @Test func theHandWrittenAnswerIsWhatTheEncoderWrites() throws {
        // Seeded: the same lists on every run, so a failure can be reproduced.
        var random = SplitMix64(seed: 2026)
        #expect(InstanceStatus.controlJSON([]) == Array(try JSONEncoder.control.encode([InstanceStatus]())))
        // Every text in every string field and every number in both number fields, once each.
        let fixed = zip(Self.texts, Self.numbers + Self.numbers).map { text, number in
            InstanceStatus(
                name: text, state: text, desiredState: text, health: text, pid: 1, port: 8080, backend: text,
                devices: text, model: text, startedAt: number, restarts: 3, reason: text, since: -number)
        }
        #expect(InstanceStatus.controlJSON(fixed) == Array(try JSONEncoder.control.encode(fixed)))
        for count in [1, 2, 7, 100] {
            for _ in 0..<20 {
                let list = (0..<count).map { _ in Self.status(&random) }
                let expected = try JSONEncoder.control.encode(list)
                let written = InstanceStatus.controlJSON(list)
                #expect(
                    written == Array(expected),
                    "\(String(decoding: written, as: UTF8.self))\n---\n\(String(decoding: expected, as: UTF8.self))")
                #expect(try JSONDecoder().decode([InstanceStatus].self, from: Data(written)) == list)
            }
        }
    }

    @Test func aNumberJSONCannotHoldIsLeftOutNotWrittenAsNan() throws {
        let odd = InstanceStatus(
            name: "odd", state: "healthy", desiredState: "running", health: "healthy", startedAt: .nan,
            restarts: 0, since: .infinity)
        let written = InstanceStatus.controlJSON([odd])
        let decoded = try JSONDecoder().decode([InstanceStatus].self, from: Data(written))
        #expect(decoded.first?.startedAt == nil && decoded.first?.since == nil)
        #expect(decoded.first?.name == "odd")
    }
}
