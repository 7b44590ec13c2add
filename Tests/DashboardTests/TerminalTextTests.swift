import Testing

@testable import Dashboard

/// Terminal cell widths: emoji and East Asian wide characters take two cells, so columns stay aligned.
@Suite struct TerminalTextTests {
    @Test(arguments: [
        ("a", 1), ("é", 1), ("e\u{301}", 1), ("\u{301}", 0), ("漢", 2), ("ｶ", 1), ("Ａ", 2),
        // Emoji presented as pictures by default: U+1F300–U+1FAFF and the emoji among U+2600–U+27BF.
        ("🌀", 2), ("😀", 2), ("🚀", 2), ("🤖", 2), ("🫠", 2), ("⚡", 2), ("✅", 2), ("❌", 2), ("⌛", 2),
        // Flags (a pair of regional indicators), skin tones, ZWJ families and keycaps: one character, two cells.
        ("🇫🇷", 2), ("👍🏽", 2), ("👩‍👩‍👧", 2), ("1\u{FE0F}\u{20E3}", 2),
        // Text-default symbols are one cell unless VS16 asks for the emoji form.
        ("☀", 1), ("☀\u{FE0F}", 2), ("❤", 1), ("❤\u{FE0F}", 2), ("1", 1), ("#", 1), ("│", 1), ("…", 1),
    ])
    func characterWidths(text: String, cells: Int) {
        #expect(TerminalText.width(of: text) == cells, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test func stringsAddTheirCharacters() {
        #expect(TerminalText.width(of: "🚀 chat") == 7)
        #expect(TerminalText.width(of: "ok ✅ 漢字") == 10)
    }

    @Test func fittingCutsAndPadsEmojiToTheExactWidth() {
        for width in 1...12 {
            for text in ["🚀🚀🚀🚀🚀", "a🇫🇷b⚡c", "model-✅"] {
                let left = ColumnLayout.fit(text, width, right: false)
                let right = ColumnLayout.fit(text, width, right: true)
                #expect(TerminalText.width(of: left) == width, "\(text) in \(width): '\(left)'")
                #expect(TerminalText.width(of: right) == width, "\(text) in \(width): '\(right)'")
            }
        }
    }
}
