#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads the end of a log file: what `logs`, `up --wait`, the daemon's start errors and the dashboard show.
public enum LogFile {
    /// The last `count` lines of the file at `path`, as its bytes (whatever the encoding: a server may print
    /// part of a multi-byte character), read backwards from the end in 64 KiB steps so that a large log costs
    /// no more than its tail; and the file's size when read, where following it should go on. A last line
    /// without its newline counts as a line. `nil` when the file can't be read.
    public static func lastLines(of path: String, count: Int) -> (bytes: [UInt8], end: Int)? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        guard let size = FileIdentity(descriptor: descriptor)?.size else { return nil }
        guard count > 0, size > 0 else { return ([], size) }
        let newline = UInt8(ascii: "\n")
        var chunks: [[UInt8]] = []
        var start = size
        var newlines = 0
        var endsWithNewline: Bool?
        // Enough once `count` newlines precede the last line (the file's own final newline doesn't count).
        while start > 0 && newlines < count + (endsWithNewline == true ? 1 : 0) {
            let step = min(1 << 16, start)
            var chunk = [UInt8](repeating: 0, count: step)
            let got = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, step, off_t(start - step)) }
            if got < 0, errno == EINTR { continue }
            guard got == step else { break }
            if endsWithNewline == nil { endsWithNewline = chunk.last == newline }
            newlines += chunk.reduce(0) { $1 == newline ? $0 + 1 : $0 }
            chunks.append(chunk)
            start -= step
        }
        let bytes = Array(chunks.reversed().joined())
        // Back from the end (less the final newline) to the newline before the first line shown.
        var index = bytes.count - (endsWithNewline == true ? 1 : 0)
        var seen = 0
        while index > 0 {
            index -= 1
            if bytes[index] == newline {
                seen += 1
                if seen == count { return (Array(bytes[(index + 1)...]), size) }
            }
        }
        return (bytes, size)
    }

    /// The last `count` non-empty lines of the file at `path` as text (bytes that aren't UTF-8 shown as `�`), for
    /// an error message; empty when there are none or the file can't be read.
    public static func lastLinesText(of path: String, count: Int) -> String {
        // Blank lines don't count: read a few more to make up for them.
        let bytes = lastLines(of: path, count: count * 2)?.bytes ?? []
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        return lines.suffix(count).joined(separator: "\n")
    }
}
