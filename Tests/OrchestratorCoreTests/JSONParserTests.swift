import OrchestratorCore
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKindWithPositions() throws {
        let node = try JSONParser.parse(Array("{\n \"a\": [1, -2.5e3, true, null, \"x\\u00e9\\ud83d\\ude00\"]}".utf8))
        guard case .object(let members) = node.value, case .array(let elements) = members[0].node.value else {
            Issue.record("expected an object holding an array")
            return
        }
        #expect(members[0].key == "a")
        #expect(members[0].keyPosition.line == 2 && members[0].keyPosition.column == 2)
        #expect(elements.map(\.value) == [.number("1"), .number("-2.5e3"), .bool(true), .null, .string("xé😀")])
    }

    @Test(arguments: [
        ("{\"a\": 01}", "leading zeros"), ("{\"a\": 1.}", "digits after"), ("{\"a\": \"\\q\"}", "invalid escape"),
        ("{\"a\": \"\\ud800\"}", "surrogate"), ("{\"a\" 1}", "expected ':'"), ("{\"a\": True}", "lowercase"),
        ("{} {}", "after the end"), ("{\"a\": \"x\ny\"}", "unterminated"),
    ])
    func rejects(_ text: String, _ fragment: String) {
        do {
            _ = try JSONParser.parse(Array(text.utf8))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func columnsCountCharactersNotBytes() {
        do {
            _ = try JSONParser.parse(Array("{\"é\": x}".utf8))
            Issue.record("accepted invalid JSON")
        } catch {
            #expect(error.position.column == 7)
        }
    }
}
