/// A key the dashboard understands, decoded from the bytes a terminal sends in raw mode.
public enum DashboardKey: Sendable, Equatable {
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, escape, backspace, tab
    /// Ctrl-C, read as a byte because raw mode turns off the terminal's own signal keys.
    case interrupt
    case character(Character)
}

/// Turns terminal input bytes into keys: UTF-8 text, control bytes and the CSI / SS3 sequences of the
/// arrow and paging keys (both the normal and the application cursor forms).
public enum KeyDecoder {
    /// Decodes everything in `bytes`. A lone ESC (no `[` or `O` after it in the same read) is the Escape key;
    /// an unknown sequence is dropped whole.
    public static func decode(_ bytes: [UInt8]) -> [DashboardKey] {
        var keys: [DashboardKey] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0x1B:
                let (key, length) = escapeSequence(bytes, at: index)
                if let key { keys.append(key) }
                index += length
                continue
            case 0x03: keys.append(.interrupt)
            case 0x0D, 0x0A: keys.append(.enter)
            case 0x7F, 0x08: keys.append(.backspace)
            case 0x09: keys.append(.tab)
            case 0x00..<0x20: break
            default:
                let length = utf8Length(byte)
                let end = min(bytes.count, index + length)
                if let text = String(validating: bytes[index..<end], as: UTF8.self), let character = text.first {
                    keys.append(.character(character))
                }
                index = end
                continue
            }
            index += 1
        }
        return keys
    }

    private static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xF0...: 4
        case 0xE0...: 3
        case 0xC0...: 2
        default: 1
        }
    }

    /// The key an escape sequence starting at `start` stands for, and how many bytes it takes.
    private static func escapeSequence(_ bytes: [UInt8], at start: Int) -> (DashboardKey?, Int) {
        guard start + 1 < bytes.count, bytes[start + 1] == UInt8(ascii: "[") || bytes[start + 1] == UInt8(ascii: "O")
        else { return (.escape, 1) }
        // Parameters (digits and ';') then one final byte in 0x40...0x7E.
        var index = start + 2
        var parameters = ""
        while index < bytes.count, (0x30...0x3F).contains(bytes[index]) {
            parameters.unicodeScalars.append(Unicode.Scalar(bytes[index]))
            index += 1
        }
        guard index < bytes.count else { return (nil, bytes.count - start) }
        let final = bytes[index]
        let length = index - start + 1
        switch (final, parameters) {
        case (UInt8(ascii: "A"), _): return (.up, length)
        case (UInt8(ascii: "B"), _): return (.down, length)
        case (UInt8(ascii: "C"), _): return (.right, length)
        case (UInt8(ascii: "D"), _): return (.left, length)
        case (UInt8(ascii: "H"), _): return (.home, length)
        case (UInt8(ascii: "F"), _): return (.end, length)
        case (UInt8(ascii: "~"), "1"), (UInt8(ascii: "~"), "7"): return (.home, length)
        case (UInt8(ascii: "~"), "4"), (UInt8(ascii: "~"), "8"): return (.end, length)
        case (UInt8(ascii: "~"), "5"): return (.pageUp, length)
        case (UInt8(ascii: "~"), "6"): return (.pageDown, length)
        default: return (nil, length)
        }
    }
}
