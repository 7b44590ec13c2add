/// A foreground colour of the 16-colour ANSI palette: what every terminal has.
public enum TextColor: Int, Sendable, Equatable {
    case red = 31, green = 32, yellow = 33, blue = 34, magenta = 35, cyan = 36, gray = 90
}

/// How a piece of text looks; turned into SGR escape codes only when colour is allowed.
public struct TextStyle: Sendable, Equatable {
    public var color: TextColor?
    public var bold: Bool
    public var dim: Bool
    public var inverse: Bool

    public init(color: TextColor? = nil, bold: Bool = false, dim: Bool = false, inverse: Bool = false) {
        self.color = color
        self.bold = bold
        self.dim = dim
        self.inverse = inverse
    }

    public static let plain = TextStyle()
    public static let bold = TextStyle(bold: true)
    public static let dim = TextStyle(dim: true)
    public static let inverse = TextStyle(inverse: true)
    public static func colored(_ color: TextColor, bold: Bool = false) -> TextStyle {
        TextStyle(color: color, bold: bold)
    }

    /// This style with `other`'s attributes added (its colour wins when it has one).
    func merged(with other: TextStyle) -> TextStyle {
        TextStyle(
            color: other.color ?? color, bold: bold || other.bold, dim: dim || other.dim,
            inverse: inverse || other.inverse)
    }

    /// The SGR sequence that sets this style from a reset state; empty for plain.
    var escape: String {
        var codes: [String] = []
        if bold { codes.append("1") }
        if dim { codes.append("2") }
        if inverse { codes.append("7") }
        if let color { codes.append(String(color.rawValue)) }
        return codes.isEmpty ? "" : "\u{1B}[" + codes.joined(separator: ";") + "m"
    }
}

/// One screen line built from styled pieces, rendered to exactly a given number of terminal cells.
///
/// Text is sanitized on the way in (control characters, escape sequences from log files and tabs become
/// spaces or go), so nothing added can move the cursor or change colours behind the renderer's back.
public struct StyledLine: Sendable, Equatable {
    struct Span: Sendable, Equatable {
        var text: String
        var style: TextStyle
    }

    var spans: [Span] = []
    /// A style under every span and the padding: the selected row is drawn inverse.
    public var base: TextStyle

    public init(base: TextStyle = .plain) {
        self.base = base
    }

    public init(_ text: String, _ style: TextStyle = .plain, base: TextStyle = .plain) {
        self.base = base
        add(text, style)
    }

    /// Appends text in a style.
    public mutating func add(_ text: String, _ style: TextStyle = .plain) {
        let clean = Self.sanitize(text)
        if !clean.isEmpty { spans.append(Span(text: clean, style: style)) }
    }

    /// The text without styles.
    public var plainText: String { spans.map(\.text).joined() }

    /// The width of the text in terminal cells.
    public var cellWidth: Int { spans.reduce(0) { $0 + TerminalText.width(of: $1.text) } }

    /// The line as exactly `width` cells: cut with `…` when too long, padded with spaces when short; with SGR
    /// codes when `color` is on, and a reset at the end.
    public func render(width: Int, color: Bool) -> String {
        guard width > 0 else { return "" }
        let overflow = cellWidth > width
        let room = overflow ? width - 1 : width
        var output = ""
        var used = 0
        // The style in force, as its escape; a line starts and ends in the reset state.
        var current = ""
        func switchTo(_ style: TextStyle) {
            guard color else { return }
            let escape = style.escape
            if escape != current {
                if !current.isEmpty { output += "\u{1B}[0m" }
                output += escape
                current = escape
            }
        }
        outer: for span in spans {
            switchTo(base.merged(with: span.style))
            for character in span.text {
                let cells = TerminalText.width(of: character)
                if used + cells > room { break outer }
                output.append(character)
                used += cells
            }
        }
        switchTo(base)
        if overflow {
            output += "…"
            used += 1
        }
        if used < width { output += String(repeating: " ", count: width - used) }
        if !current.isEmpty { output += "\u{1B}[0m" }
        return output
    }

    /// Text with control characters and escape sequences removed and tabs turned into a space.
    static func sanitize(_ text: String) -> String {
        var result = ""
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                // CSI and similar sequences end with a letter; drop everything up to it.
                if (0x40...0x7E).contains(scalar.value) && scalar != "[" { inEscape = false }
                continue
            }
            switch scalar.value {
            case 0x1B: inEscape = true
            case 0x09: result.unicodeScalars.append(" ")
            case 0x00..<0x20, 0x7F..<0xA0: continue
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}

/// Terminal cell widths of characters: 2 for East Asian wide and emoji, 0 for combining marks, else 1.
public enum TerminalText {
    /// The cells `character` takes.
    public static func width(of character: Character) -> Int {
        guard let scalar = character.unicodeScalars.first else { return 0 }
        let value = scalar.value
        if value < 0x20 || (0x7F..<0xA0).contains(value) { return 0 }
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if isWide(value) || isEmoji(character) { return 2 }
        return 1
    }

    /// The cells `text` takes.
    public static func width(of text: String) -> Int {
        text.reduce(0) { $0 + width(of: $1) }
    }

    /// Whether `character` shows as an emoji picture, two cells wide: its first scalar is presented as emoji by
    /// default (U+1F300–U+1FAFF, the emoji among U+2600–U+27BF such as ⚡ and ✅, regional-indicator flags,
    /// ZWJ sequences), or it is a text-default emoji asked for as emoji with VS16 (☀️, ❤️, keycaps such as 1️⃣).
    private static func isEmoji(_ character: Character) -> Bool {
        guard let first = character.unicodeScalars.first else { return false }
        if first.properties.isEmojiPresentation { return true }
        return first.properties.isEmoji && character.unicodeScalars.contains("\u{FE0F}")
    }

    /// East Asian Wide and Fullwidth blocks (Hangul, CJK, kana, fullwidth forms).
    private static func isWide(_ value: UInt32) -> Bool {
        switch value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
            0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
            0xFFE0...0xFFE6, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            true
        default: false
        }
    }
}
