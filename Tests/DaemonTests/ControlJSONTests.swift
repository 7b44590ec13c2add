import ControlAPI
import Foundation
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

    private static func status(_ random: inout SystemRandomNumberGenerator) -> InstanceStatus {
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
        var random = SystemRandomNumberGenerator()
        #expect(InstanceStatus.controlJSON([]) == Array(try JSONEncoder.control.encode([InstanceStatus]())))
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
}
