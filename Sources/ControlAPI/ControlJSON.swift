import Foundation

extension JSONEncoder {
    /// The control API's encoding, which is also every `--json` output's: pretty-printed, sorted keys
    /// (snake_case by the types' coding keys), slashes unescaped. The same, so the CLI can print an answer as
    /// it came.
    public static var control: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension JSONDecoder {
    /// The control API's decoding (snake_case keys come from the types' coding keys).
    static var control: JSONDecoder {
        JSONDecoder()
    }
}
