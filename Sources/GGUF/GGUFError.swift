import OrchestratorCore

/// A GGUF file that cannot be read: what was wrong, where (byte offset) and in which file.
///
/// Every problem the reader finds in a file is one of these, never a crash; the message names the byte offset
/// so a user (or a bug report) can look at the file with a hex dump.
public struct GGUFError: OrchestratorError, Equatable {
    /// What kind of problem this is; tests and callers branch on it.
    public enum Kind: String, Sendable, Codable {
        /// The file does not exist.
        case fileNotFound
        /// The file exists but could not be opened or read.
        case ioError
        /// The first four bytes are not `GGUF`.
        case badMagic
        /// The version is not 2 or 3.
        case unsupportedVersion
        /// The version's low 16 bits are zero: written on a machine of the other byte order.
        case byteOrderMismatch
        /// The file ends in the middle of the header.
        case truncated
        /// A count or length that the rest of the file cannot hold.
        case implausibleCount
        /// A metadata value type id outside 0...12.
        case badValueType
        /// Arrays nested deeper than the reader accepts.
        case nestingTooDeep
        /// A key or tensor name that appears twice.
        case duplicate
        /// A ggml type id that is retired or unknown.
        case badTensorType
        /// A tensor's shape is invalid (too many dimensions, negative, overflowing, not whole blocks).
        case badShape
        /// A tensor's data lies outside the file, overlaps another, or is misaligned.
        case badTensorOffset
        /// A metadata value has the wrong type or an invalid value (alignment, split keys).
        case badMetadata
        /// The shards of a split model do not fit together.
        case badSplit
    }

    /// What kind of problem this is.
    public let kind: Kind
    /// The byte offset in the file where the problem was found, when one applies.
    public let offset: UInt64?
    /// What was wrong, in words.
    public let message: String
    /// The file, when known.
    public var path: String?

    /// Makes an error; `offset` is where the offending field starts.
    public init(_ kind: Kind, at offset: UInt64?, _ message: String, path: String? = nil) {
        self.kind = kind
        self.offset = offset
        self.message = message
        self.path = path
    }

    public var exitCode: OrchestratorExitCode { kind == .fileNotFound ? .notFound : .modelInvalid }

    public var description: String {
        var text = path.map { "\($0): " } ?? ""
        if kind == .fileNotFound { return text + message }
        text += "not a valid GGUF model"
        if let offset { text += " (at byte \(offset))" }
        return text + ": " + message
    }

    /// The same error attributed to a file.
    func inFile(_ path: String) -> GGUFError {
        var copy = self
        copy.path = path
        return copy
    }
}
