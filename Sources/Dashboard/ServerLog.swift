import Foundation
import Host

/// Reads the end of an instance's log file: the lines the detail view tails. (The buffer sizes a server reported
/// are read once, by its supervisor, and stored with its run: `ServerLogAllocations`.)
public enum ServerLog {
    /// The last `count` lines of the file; empty when it can't be read.
    public static func tail(path: String, count: Int) -> [String] {
        guard count > 0, let bytes = LogFile.lastLines(of: path, count: count)?.bytes else { return [] }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map(String.init)
    }
}
