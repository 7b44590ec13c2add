import Foundation
import Testing

@testable import Supervisor

/// Event details are written as JSON by hand (no encoder per event): they must still decode to what went in.
@Suite struct EventDetailsTests {
    @Test func detailsRoundTripThroughAJSONParser() throws {
        let details = [
            "status": #"exited with "status" 1"#, "path": #"C:\models\a.gguf"#, "log": "line one\nline two\ttab\r",
            "bell": "\u{7}\u{1F}", "unicode": "Grüße 🦙", "": "empty key",
        ]
        let text = InstanceSupervisor<ContinuousClock>.json(details)
        let decoded = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(decoded == details)
        // Sorted keys, as the encoder wrote them before: the same details give the same text.
        let keys = details.keys.sorted()
        let positions = keys.map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
        #expect(InstanceSupervisor<ContinuousClock>.json([:]) == "{}")
    }
}
