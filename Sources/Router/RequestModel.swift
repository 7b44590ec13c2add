import Foundation
import NIOCore

enum RequestModel {
    /// The POST endpoints whose JSON body names the model.
    static let jsonEndpoints: Set<String> = [
        "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages",
        "/v1/messages/count_tokens", "/completion", "/completions", "/infill", "/embedding", "/embeddings",
        "/rerank", "/v1/rerank", "/reranking", "/v1/reranking", "/tokenize", "/detokenize", "/apply-template",
        "/chat/completions", "/v1/score",
    ]
    /// The GET endpoints that take `?model=`.
    static let queryEndpoints: Set<String> = ["/props", "/slots", "/metrics"]

    /// The top-level `"model"` string of a JSON object, found without building the document: a 30 MiB body of
    /// base64 images is skimmed, not parsed into objects.
    ///
    /// - Returns: the model, `nil` when the object has none.
    /// - Throws: `RouterError.badRequest` when the body is not a JSON object.
    static func fromJSON(_ body: ByteBuffer) throws(RouterError) -> String? {
        let result = body.withUnsafeReadableBytes { bytes -> Result<String?, JSONSkimmer.Failure> in
            var scanner = JSONSkimmer(bytes: bytes)
            return Result { () throws(JSONSkimmer.Failure) in try scanner.topLevelString(forKey: "model") }
        }
        switch result {
        case .success(let model): return model
        case .failure(let error): throw RouterError(.badRequest("invalid JSON body: \(error.message)"))
        }
    }

    /// The `model` field of a `multipart/form-data` body.
    static func fromMultipart(_ body: ByteBuffer, contentType: String) -> String? {
        guard let range = contentType.range(of: "boundary=") else { return nil }
        var boundary = String(contentType[range.upperBound...])
        if let end = boundary.firstIndex(of: ";") { boundary = String(boundary[..<end]) }
        boundary = boundary.trimmingCharacters(in: ["\""])
        let bytes = Array(body.readableBytesView)
        let delimiter = Array(("--" + boundary).utf8)
        var parts: [ArraySlice<UInt8>] = []
        var start: Int?
        var index = 0
        while index + delimiter.count <= bytes.count {
            if bytes[index] == delimiter[0], bytes[index..<index + delimiter.count].elementsEqual(delimiter) {
                if let start { parts.append(bytes[start..<index]) }
                index += delimiter.count
                start = index
            } else {
                index += 1
            }
        }
        for part in parts {
            let text = String(decoding: part.prefix(1024), as: UTF8.self)
            guard let headerEnd = text.range(of: "\r\n\r\n"),
                text[..<headerEnd.lowerBound].range(of: "name=\"model\"") != nil
            else { continue }
            let value = text[headerEnd.upperBound...]
            return value.trimmingCharacters(in: .newlines)
        }
        return nil
    }
}

/// A forward-only reader of JSON bytes that skips values: enough to find one top-level key and to refuse a body
/// that is not a JSON object. Strings it skips are not checked inside (llama-server parses the body it forwards).
struct JSONSkimmer {
    struct Failure: Error {
        var message: String
    }

    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func topLevelString(forKey wanted: String) throws(Failure) -> String? {
        skipSpace()
        guard peek() == UInt8(ascii: "{") else { throw Failure(message: "expected a JSON object") }
        index += 1
        var found: String?
        skipSpace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                let key = try readString()
                skipSpace()
                guard peek() == UInt8(ascii: ":") else { throw Failure(message: "expected ':' after \"\(key)\"") }
                index += 1
                skipSpace()
                if key == wanted && peek() == UInt8(ascii: "\"") {
                    found = try readString()
                } else {
                    try skipValue(depth: 0)
                }
                skipSpace()
                let next = peek()
                index += 1
                if next == UInt8(ascii: "}") { break }
                guard next == UInt8(ascii: ",") else { throw Failure(message: "expected ',' or '}'") }
            }
        }
        skipSpace()
        guard index == bytes.count else { throw Failure(message: "text after the JSON object") }
        return found
    }

    private func peek() -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipSpace() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private mutating func readString() throws(Failure) -> String {
        guard peek() == UInt8(ascii: "\"") else { throw Failure(message: "expected a string") }
        index += 1
        let start = index
        var escaped = false
        while let byte = peek() {
            index += 1
            if escaped {
                escaped = false
            } else if byte == UInt8(ascii: "\\") {
                escaped = true
            } else if byte == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<(index - 1)])
                guard raw.contains(UInt8(ascii: "\\")) else { return String(decoding: raw, as: UTF8.self) }
                return Self.unescape(Array(raw))
            } else if byte < 0x20 {
                throw Failure(message: "control character in a string")
            }
        }
        throw Failure(message: "unterminated string")
    }

    private mutating func skipValue(depth: Int) throws(Failure) {
        guard depth < 512 else { throw Failure(message: "nested too deeply") }
        switch peek() {
        case UInt8(ascii: "\"")?:
            _ = try skipString()
        case UInt8(ascii: "{")?, UInt8(ascii: "[")?:
            let close = peek() == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            index += 1
            skipSpace()
            if peek() == close {
                index += 1
                return
            }
            while true {
                skipSpace()
                if isObject {
                    try skipString()
                    skipSpace()
                    guard peek() == UInt8(ascii: ":") else { throw Failure(message: "expected ':'") }
                    index += 1
                    skipSpace()
                }
                try skipValue(depth: depth + 1)
                skipSpace()
                let next = peek()
                index += 1
                if next == close { return }
                guard next == UInt8(ascii: ",") else { throw Failure(message: "expected ',' in a list or object") }
            }
        case let byte?
        where byte == UInt8(ascii: "-") || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")):
            while let next = peek(),
                next == UInt8(ascii: "-") || next == UInt8(ascii: "+") || next == UInt8(ascii: ".")
                    || next == UInt8(ascii: "e") || next == UInt8(ascii: "E")
                    || (next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9"))
            {
                index += 1
            }
        case UInt8(ascii: "t")?: try skipWord("true")
        case UInt8(ascii: "f")?: try skipWord("false")
        case UInt8(ascii: "n")?: try skipWord("null")
        default: throw Failure(message: "expected a value")
        }
    }

    /// Skips a string fast, with `memchr`: the body of a base64 image is one long string.
    private mutating func skipString() throws(Failure) {
        guard peek() == UInt8(ascii: "\""), let base = bytes.baseAddress else {
            throw Failure(message: "expected a string")
        }
        index += 1
        while index < bytes.count {
            guard let found = memchr(base + index, Int32(UInt8(ascii: "\"")), bytes.count - index) else { break }
            let quote = base.distance(to: UnsafeRawPointer(found))
            var backslashes = 0
            while quote - backslashes - 1 >= index, bytes[quote - backslashes - 1] == UInt8(ascii: "\\") {
                backslashes += 1
            }
            index = quote + 1
            if backslashes % 2 == 0 { return }
        }
        throw Failure(message: "unterminated string")
    }

    private mutating func skipWord(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw Failure(message: "expected a value") }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        guard bytes[index..<(index + count)].elementsEqual(expected) else { throw Failure(message: "expected a value") }
        index += count
    }

    /// JSON string escapes of a short string (`\"`, `\\`, `\/`, `\n`, `\uXXXX`).
    static func unescape(_ raw: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        var index = 0
        let text = Array(String(decoding: raw, as: UTF8.self).unicodeScalars)
        while index < text.count {
            let scalar = text[index]
            index += 1
            guard scalar == "\\", index < text.count else {
                scalars.append(scalar)
                continue
            }
            let code = text[index]
            index += 1
            switch code {
            case "n": scalars.append("\n")
            case "t": scalars.append("\t")
            case "r": scalars.append("\r")
            case "b": scalars.append("\u{08}")
            case "f": scalars.append("\u{0C}")
            case "u" where index + 4 <= text.count:
                let hex = String(String.UnicodeScalarView(text[index..<index + 4]))
                index += 4
                if let value = UInt32(hex, radix: 16), let unicode = Unicode.Scalar(value) { scalars.append(unicode) }
            default: scalars.append(code)
            }
        }
        return String(scalars)
    }
}
