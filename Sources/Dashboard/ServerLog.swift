import Foundation
import Host

/// Reads the end of an instance's log file: the lines the detail view tails, and the buffer sizes the
/// server reported when it loaded (`load_tensors: Vulkan0 model buffer size = 4403.49 MiB`).
public enum ServerLog {
    /// The last `count` lines of the file; empty when it can't be read.
    public static func tail(path: String, count: Int) -> [String] {
        guard count > 0, let bytes = LogFile.lastLines(of: path, count: count)?.bytes else { return [] }
        var lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map(String.init)
    }

    /// The bytes the server's last load reported over all its buffers (model, KV cache, compute, output), or
    /// `nil` when the log holds none. A new start (`build:` line, or model buffers after other buffers)
    /// starts the sum again, so an earlier run's figures don't count.
    public static func reportedBytes(path: String, maxBytes: Int = 512 * 1024) -> UInt64? {
        guard let text = readEnd(path: path, maxBytes: maxBytes) else { return nil }
        return reportedBytes(log: text)
    }

    /// `reportedBytes(path:)` over text.
    public static func reportedBytes(log: String) -> UInt64? {
        var total: UInt64 = 0
        var found = false
        var lastWasModel = false
        for line in log.split(separator: "\n") {
            if line.hasPrefix("build:") || line.contains("llama_model_loader: loaded meta data") {
                total = 0
                found = false
                lastWasModel = false
                continue
            }
            let words = line.split(separator: " ")
            guard let size = words.firstIndex(of: "size"), size >= 2, words.count > size + 3,
                words[size + 1] == "=", words[size + 3] == "MiB", words[size - 1] == "buffer",
                let mib = Double(words[size + 2])
            else { continue }
            let isModel = words[size - 2] == "model"
            if isModel && found && !lastWasModel { total = 0 }
            lastWasModel = isModel
            total += UInt64((mib * 1_048_576).rounded())
            found = true
        }
        return found ? total : nil
    }

    private static func readEnd(path: String, maxBytes: Int) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        let start = size > UInt64(maxBytes) ? size - UInt64(maxBytes) : 0
        guard (try? handle.seek(toOffset: start)) != nil, let data = try? handle.readToEnd() else { return nil }
        var text = String(decoding: data, as: UTF8.self)
        // A read that starts mid-file starts mid-line: drop the partial line.
        if start > 0, let newline = text.firstIndex(of: "\n") { text = String(text[text.index(after: newline)...]) }
        return text
    }
}
