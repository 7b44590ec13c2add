import Foundation
import OrchestratorCore

/// Where the reader gets bytes from: a file read piecewise, or bytes in memory (tests, mutation runs).
///
/// The reader asks for small windows at increasing offsets and never for the tensor data, so a source only
/// needs random access and a size; memory use stays bounded by the header, not the model.
public protocol GGUFByteSource: Sendable {
    /// The total size in bytes.
    var size: UInt64 { get }
    /// Up to `count` bytes starting at `offset`; fewer only at the end of the source.
    func read(at offset: UInt64, count: Int) throws(GGUFError) -> [UInt8]
}

/// Bytes in memory, as a source; used by tests and the mutation run to avoid the file system.
public struct GGUFMemorySource: GGUFByteSource {
    /// The bytes.
    public let bytes: [UInt8]

    /// Wraps bytes.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var size: UInt64 { UInt64(bytes.count) }

    public func read(at offset: UInt64, count: Int) throws(GGUFError) -> [UInt8] {
        guard offset < size, count > 0 else { return [] }
        let start = Int(offset)
        let end = start + min(count, bytes.count - start)
        return Array(bytes[start..<end])
    }
}

/// A file read with positioned reads through a `FileHandle`; only the windows asked for are read.
public final class GGUFFileSource: GGUFByteSource {
    /// The file's path, for messages.
    public let path: String
    /// The file's size when it was opened.
    public let size: UInt64
    private let handle: FileHandle
    private let lock = NSLock()

    /// Opens a file for reading; a missing file is `.fileNotFound`, anything else `.ioError`.
    public init(path: String) throws(GGUFError) {
        self.path = path
        switch FileKind(path: path) {
        case .regular: break
        case .missing: throw GGUFError(.fileNotFound, at: nil, "model file not found", path: path)
        case .directory: throw GGUFError(.ioError, at: nil, "is a directory, not a GGUF file", path: path)
        case .special(let kind):
            throw GGUFError(
                .ioError, at: nil, "is \(kind), not a GGUF file: a model must be a regular file", path: path)
        }
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            self.size = try handle.seekToEnd()
            self.handle = handle
        } catch {
            throw GGUFError(.ioError, at: nil, "cannot open: \(error.localizedDescription)", path: path)
        }
    }

    deinit { try? handle.close() }

    public func read(at offset: UInt64, count: Int) throws(GGUFError) -> [UInt8] {
        guard offset < size, count > 0 else { return [] }
        let wanted = Int(min(UInt64(count), size - offset))
        lock.lock()
        defer { lock.unlock() }
        do {
            try handle.seek(toOffset: offset)
            let data = try handle.read(upToCount: wanted) ?? Data()
            return [UInt8](data)
        } catch {
            throw GGUFError(.ioError, at: offset, "read failed: \(error.localizedDescription)", path: path)
        }
    }
}

// The handle is only used under the lock.
extension GGUFFileSource: @unchecked Sendable {}
