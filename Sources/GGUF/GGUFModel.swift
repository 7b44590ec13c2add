import Foundation

/// A model as llama.cpp loads it: one GGUF file, or every shard of a split model, read header-only.
///
/// A split model is a set of files named `NAME-0000K-of-0000N.gguf`; opening any shard opens them all. The
/// metadata comes from the first shard (llama.cpp reads hyperparameters from it); tensors come from every
/// shard, each tagged with its shard index.
public struct GGUFModel: Sendable {
    /// The shards in order (one for an unsplit model).
    public let files: [GGUFFile]
    /// The paths of the shards, in order.
    public let paths: [String]

    /// The metadata of the first shard.
    public var metadata: GGUFMetadata { files[0].metadata }
    /// Every tensor of every shard.
    public var tensors: [GGUFTensorInfo] {
        files.enumerated().flatMap { index, file in
            file.tensors.map { tensor in
                var copy = tensor
                copy.shard = index
                return copy
            }
        }
    }
    /// The size of all shards together.
    public var fileSize: UInt64 { files.reduce(0) { $0 + $1.fileSize } }

    /// Wraps already-read shards (tests); the shards are checked to fit together.
    public init(files: [GGUFFile], paths: [String]) throws(GGUFError) {
        guard !files.isEmpty, files.count == paths.count else {
            throw GGUFError(.badSplit, at: nil, "no shards")
        }
        self.files = files
        self.paths = paths
        try validateSplit()
    }

    /// Opens a model file; for a shard of a split model, opens every shard.
    public static func open(path: String) throws(GGUFError) -> GGUFModel {
        let paths = try shardPaths(for: path)
        var files: [GGUFFile] = []
        for shard in paths { files.append(try GGUFFile.read(path: shard)) }
        do {
            return try GGUFModel(files: files, paths: paths)
        } catch {
            throw error.inFile(paths[0])
        }
    }

    /// The paths of every shard of the split model `path` belongs to, or `[path]` when it is not split.
    public static func shardPaths(for path: String) throws(GGUFError) -> [String] {
        guard let split = SplitName(path) else { return [path] }
        var paths: [String] = []
        for number in 1...split.count {
            let shard = split.path(number: number)
            guard FileManager.default.fileExists(atPath: shard) else {
                throw GGUFError(
                    .fileNotFound, at: nil,
                    "shard \(number) of \(split.count) of split model is missing: \(shard)", path: path)
            }
            paths.append(shard)
        }
        return paths
    }

    private func validateSplit() throws(GGUFError) {
        let declared = metadata["split.count"]?.intValue ?? 1
        guard declared == files.count else {
            throw GGUFError(
                .badSplit, at: metadata.entry("split.count")?.offset,
                "split.count is \(declared) but \(files.count) shard file(s) were found")
        }
        guard files.count > 1 else { return }
        var names: Set<String> = []
        var tensorTotal = 0
        for (index, file) in files.enumerated() {
            let number = file.metadata["split.no"]?.intValue
            guard number == index else {
                throw GGUFError(
                    .badSplit, at: file.metadata.entry("split.no")?.offset,
                    "shard \(paths[index]) has split.no \(number.map(String.init) ?? "missing"), expected \(index)")
            }
            for tensor in file.tensors {
                guard names.insert(tensor.name).inserted else {
                    throw GGUFError(.duplicate, at: nil, "tensor '\(tensor.name)' appears in more than one shard")
                }
            }
            tensorTotal += file.tensors.count
        }
        if let expected = metadata["split.tensors.count"]?.intValue, expected != tensorTotal {
            throw GGUFError(
                .badSplit, at: metadata.entry("split.tensors.count")?.offset,
                "split.tensors.count is \(expected) but the shards hold \(tensorTotal) tensors")
        }
    }
}

/// The parts of a split model's file name: `PREFIX-0000K-of-0000N.gguf`.
struct SplitName {
    let prefix: String
    let number: Int
    let count: Int

    init?(_ path: String) {
        guard path.hasSuffix(".gguf") else { return nil }
        let stem = path.dropLast(5)
        // "-00001-of-00003" is 15 characters.
        guard stem.count > 15 else { return nil }
        let tail = stem.suffix(15)
        let parts = tail.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[2] == "of", parts[1].count == 5, parts[3].count == 5,
            let number = Int(parts[1]), let count = Int(parts[3]), number >= 1, count >= 1, number <= count
        else { return nil }
        self.prefix = String(stem.dropLast(15))
        self.number = number
        self.count = count
    }

    func path(number: Int) -> String {
        func five(_ value: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, 5 - digits.count)) + digits
        }
        return "\(prefix)-\(five(number))-of-\(five(count)).gguf"
    }
}
