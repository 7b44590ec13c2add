/// Reads what llama-server reported it allocated from its log text: the buffer lines every llama.cpp version we
/// support prints when it loads (`load_tensors: Vulkan0 model buffer size = 4403.49 MiB`, `llama_kv_cache:
/// CUDA0 KV buffer size = ...`, `llama_context: Vulkan_Host compute buffer size = ...`, `... output buffer size
/// = ...`).
///
/// Only the last load in the text counts: a line that starts a load (`llama_model_loader: loaded meta data`,
/// `build:`) starts over. A load without both model and compute buffers (a truncated log, a server still loading,
/// a build that prints no buffer lines at its verbosity) is not a measurement: `nil`, never a partial sum.
/// Lines that don't have the exact shape (garbage, a line cut by another write) are skipped.
public enum ServerLogAllocations {
    /// The allocation the last load in `text` reported, or `nil` when it reported none or not all of it.
    public static func parse(_ text: Substring) -> MeasuredAllocation? {
        var buffers: [MeasuredAllocation.Buffer] = []
        // Line by line over the UTF-8 bytes, each looked at by its ends before it is read as words: a load logged
        // at `-lv 4` is megabytes, read as the server turns healthy (as `Character`s, with a search of each line,
        // 60 KB took 8 ms; this way 0.3 ms).
        for line in text.utf8.split(whereSeparator: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) {
            if startsLoad(line) {
                buffers = []
            } else if line.reversed().drop(while: { $0 == UInt8(ascii: " ") }).starts(with: "BiM".utf8),
                let buffer = buffer(in: Substring(line))
            {
                buffers.append(buffer)
            }
        }
        let kinds = Set(buffers.map(\.kind))
        guard kinds.contains(.model), kinds.contains(.compute) else { return nil }
        return MeasuredAllocation(buffers: merged(buffers), source: "server log")
    }

    /// `parse` over a whole string.
    public static func parse(_ text: String) -> MeasuredAllocation? {
        parse(text[...])
    }

    /// `build: ...`, or `llama_model_loader: loaded meta data ...` (after a timestamp and level in newer builds).
    static func startsLoad(_ line: Substring.UTF8View) -> Bool {
        if line.starts(with: "build:".utf8) { return true }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return false }
        return line[..<colon].reversed().starts(with: "llama_model_loader".utf8.reversed())
            && line[line.index(after: colon)...].starts(with: " loaded meta data".utf8)
    }

    /// The buffer of one line `... NAME KIND buffer size = X MiB`, else `nil`.
    static func buffer(in line: Substring) -> MeasuredAllocation.Buffer? {
        let words = line.split(separator: " ")
        guard let size = words.firstIndex(of: "size"), size >= 3, words.count == size + 4,
            words[size + 1] == "=", words[size + 3] == "MiB", words[size - 1] == "buffer",
            let mib = Double(words[size + 2]), mib.isFinite, mib >= 0, mib < 1e9
        else { return nil }
        let kind: MeasuredAllocation.Kind
        switch words[size - 2] {
        case "model": kind = .model
        case "KV": kind = .kvCache
        case "compute": kind = .compute
        case "output": kind = .output
        default: return nil
        }
        let name = words[size - 3]
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else { return nil }
        return MeasuredAllocation.Buffer(name: String(name), kind: kind, bytes: UInt64((mib * 1_048_576).rounded()))
    }

    /// One entry per buffer name and kind, in first-seen order (a model with sliding-window layers reports two KV
    /// caches on the same device).
    private static func merged(_ buffers: [MeasuredAllocation.Buffer]) -> [MeasuredAllocation.Buffer] {
        var result: [MeasuredAllocation.Buffer] = []
        for buffer in buffers {
            if let index = result.firstIndex(where: { $0.name == buffer.name && $0.kind == buffer.kind }) {
                result[index].bytes += buffer.bytes
            } else {
                result.append(buffer)
            }
        }
        return result
    }
}
