import Foundation
import GGUFWriter

// make-tiny-model --kind dense|moe|q8_0|q4_0|tied|medium|large|large-q8_0 --out PATH [--split N]
// Writes a tiny GGUF model that the real llama-server loads; used by the demo and the accuracy bench.

func usage() -> Never {
    let kinds = TinyModels.kinds.keys.sorted().joined(separator: "|")
    FileHandle.standardError.write(Data("usage: make-tiny-model --kind \(kinds) --out PATH [--split N]\n".utf8))
    exit(64)
}

var kind = "dense"
var out: String?
var split = 1
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--kind": kind = arguments.popFirst() ?? ""
    case "--out": out = arguments.popFirst()
    case "--split": split = Int(arguments.popFirst() ?? "") ?? 0
    case "-h", "--help": usage()
    default: usage()
    }
}
guard let out, let spec = TinyModels.kinds[kind], split >= 1 else { usage() }
do {
    // The folder is created, as `mkdir -p` would: a missing one is not worth a failure.
    let folder = (out as NSString).deletingLastPathComponent
    if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
    let writer = TinyModels.writer(for: spec)
    if split > 1 {
        let prefix = out.hasSuffix(".gguf") ? String(out.dropLast(5)) : out
        for path in try writer.writeSplit(prefix: prefix, count: split) { print(path) }
    } else {
        try writer.write(to: out)
        print(out)
    }
} catch {
    FileHandle.standardError.write(Data("make-tiny-model: cannot write \(out): \(error.localizedDescription)\n".utf8))
    exit(1)
}
