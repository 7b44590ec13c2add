/// What the scheduler needs to know about a model, read from its GGUF header: shape, sizes and where the
/// bytes are (per block layer, output layer, token embedding).
///
/// Sizes come from the tensor infos (never from `general.file_type`), so they are exact for any type mix.
public struct ModelProfile: Sendable, Equatable, Codable {
    /// `general.architecture` (`llama`, `qwen2`).
    public var architecture: String
    /// `general.name`, when present.
    public var name: String?
    /// Number of weights over all tensors.
    public var parameterCount: UInt64
    /// Tensors, parameters and bytes per ggml type, most bytes first.
    public var quantization: [TypeShare]
    /// Block layers (`A.block_count`).
    public var layerCount: Int
    /// Embedding width (`A.embedding_length`).
    public var embeddingLength: Int
    /// Feed-forward width, when present (per expert for a mixture of experts).
    public var feedForwardLength: Int?
    /// Query heads per layer (`A.attention.head_count`, a number or an array).
    public var headCount: [Int]
    /// Key/value heads per layer (`A.attention.head_count_kv`, default: the query heads).
    public var headCountKV: [Int]
    /// Key head dimension (`A.attention.key_length`, default embedding / heads).
    public var keyLength: Int
    /// Value head dimension (`A.attention.value_length`, default embedding / heads).
    public var valueLength: Int
    /// Trained context length (`A.context_length`).
    public var contextLength: Int
    /// Vocabulary size (length of `tokenizer.ggml.tokens`, else `A.vocab_size`, else the embedding's rows).
    public var vocabularySize: Int
    /// Sliding-window size (`A.attention.sliding_window`), when the model has one.
    public var slidingWindow: Int?
    /// Which layers use the sliding window (from `A.attention.sliding_window_pattern` or llama.cpp's default
    /// pattern for the architecture; all `false` when unknown, which overestimates the KV cache).
    public var slidingWindowLayers: [Bool]
    /// Experts (`A.expert_count`, 0 for dense).
    public var expertCount: Int
    /// Experts used per token (`A.expert_used_count`).
    public var expertUsedCount: Int
    /// Bytes of each block layer's tensors (`blk.N.*`), index N.
    public var layerBytes: [UInt64]
    /// Per block layer, bytes of quantized weight matrices (2-D or 3-D, rows a multiple of 8) by type name: the
    /// tensors llama.cpp's CPU backend may copy into a repacked layout (which types depends on the CPU).
    public var layerRepackCandidates: [[String: UInt64]]
    /// Bytes of the output layer: output norm + output matrix. With tied embeddings this includes a copy of
    /// the token embedding, because llama.cpp loads token_embd a second time as the output matrix on the
    /// output layer's device (on the host the two share one mapping; see `outputTiedToEmbedding`).
    public var outputBytes: UInt64
    /// Bytes of the output matrix alone (`output.weight`, or `token_embd.weight` when tied).
    public var outputMatrixBytes: UInt64
    /// Whether there is no `output.weight` and llama.cpp uses the token embedding as the output matrix.
    public var outputTiedToEmbedding: Bool
    /// Bytes of the token embedding (`token_embd.weight`), always kept in host memory.
    public var tokenEmbeddingBytes: UInt64
    /// Bytes of tensors in none of the groups above (positional embeddings, vision towers, ...).
    public var otherBytes: UInt64
    /// Bytes of all tensors in the file(s), each counted once.
    public var tensorBytes: UInt64
    /// Size of the file(s).
    public var fileSize: UInt64
    /// Every weight llama.cpp loads, in file order, with what decides its buffer: the estimator assigns each
    /// one as llama.cpp's loader does (device, repacked copy, or the mapped file). Not part of `inspect --json`.
    public var weights: [Weight] = []

    /// The profile's fields as `inspect --json` shows them (the weight list is left out: hundreds of entries).
    private enum CodingKeys: String, CodingKey {
        case architecture, name, parameterCount, quantization, layerCount, embeddingLength, feedForwardLength
        case headCount, headCountKV, keyLength, valueLength, contextLength, vocabularySize, slidingWindow
        case slidingWindowLayers, expertCount, expertUsedCount, layerBytes, layerRepackCandidates, outputBytes
        case outputMatrixBytes, outputTiedToEmbedding, tokenEmbeddingBytes, otherBytes, tensorBytes, fileSize
    }

    /// One weight tensor and what llama.cpp's loader needs to know to choose its buffer.
    public struct Weight: Sendable, Equatable {
        /// The tensor's name (`blk.3.ffn_up.weight`; the tied output is `token_embd.weight` again).
        public var name: String
        /// Which layer it belongs to: a block index, `layerCount` for the output layer, `nil` for the input
        /// layer (token embedding) and tensors of no layer.
        public var layer: Int?
        /// The ggml type's name.
        public var type: String
        /// Elements per dimension, innermost first.
        public var dimensions: [UInt64]
        /// Bytes of data.
        public var bytes: UInt64
        /// Which shard holds it, and where its data starts in that shard's data section.
        public var shard: Int
        public var offset: UInt64
        /// The operation llama.cpp uses it with, which decides which buffer types can hold it.
        public var operation: Operation

        /// How a weight is used by llama.cpp's graph.
        public enum Operation: Sendable, Equatable {
            /// A matrix multiplied by activations (`MUL_MAT`): every 2-D projection and the output matrix.
            case matrixMultiply
            /// The experts of a mixture of experts (`MUL_MAT_ID`, 3-D).
            case expertMultiply
            /// Row lookup (`GET_ROWS`): the token embedding.
            case rowLookup
            /// Element-wise use (norms, biases) or none.
            case elementwise
        }

        /// Rows of the matrix (`ne[1]`), which the CPU's repacked layouts require to be a multiple of 8.
        public var rows: UInt64 { dimensions.count > 1 ? dimensions[1] : 1 }
    }

    /// Tensors of one ggml type.
    public struct TypeShare: Sendable, Equatable, Codable {
        /// The type's name (`Q4_K`).
        public var type: String
        /// Number of tensors.
        public var tensors: Int
        /// Number of weights.
        public var parameters: UInt64
        /// Bytes.
        public var bytes: UInt64
    }

    /// Key/value heads of layer `layer`.
    public func kvHeads(layer: Int) -> Int { layer < headCountKV.count ? headCountKV[layer] : headCountKV.last ?? 0 }

    /// llama.cpp's default sliding-window pattern per architecture, when the file has no pattern key:
    /// every n-th layer is full attention, the others use the window.
    public static let defaultSlidingWindowPatterns: [String: Int] = [
        "gemma2": 2, "gemma3": 6, "gemma3n": 5, "gemma-embedding": 6, "cohere2": 4, "exaone4": 4, "llama4": 4,
        "afmoe": 4, "mellum": 4,
    ]
}

extension ModelProfile {
    /// Builds the profile of a model from its header.
    ///
    /// - Throws: `GGUFError` `.badMetadata` when a required key is missing or of the wrong type.
    public init(model: GGUFModel) throws(GGUFError) {
        let metadata = model.metadata
        let tensors = model.tensors
        func missing(_ key: String) -> GGUFError {
            GGUFError(.badMetadata, at: nil, "required metadata key '\(key)' is missing", path: model.paths.first)
        }
        // Hyperparameters are bounded far above any real model, so sizes computed from them never overflow.
        func integer(_ key: String, limit: Int = 1 << 24) throws(GGUFError) -> Int? {
            guard let entry = metadata.entry(key) else { return nil }
            var value = entry.value.intValue
            if value == nil, let first = entry.value.arrayValue?.first { value = first.intValue }
            guard let value, value >= 0 else {
                throw GGUFError(
                    .badMetadata, at: entry.offset,
                    "'\(key)' must be a non-negative integer, found \(entry.value.type)",
                    path: model.paths.first)
            }
            guard value <= limit else {
                throw GGUFError(
                    .badMetadata, at: entry.offset, "'\(key)' = \(value) is beyond any real model (at most \(limit))",
                    path: model.paths.first)
            }
            return value
        }
        guard let architecture = metadata["general.architecture"]?.stringValue else {
            throw missing("general.architecture")
        }
        let a = architecture
        self.architecture = a
        self.name = metadata["general.name"]?.stringValue
        // The placer prices every split of the blocks, each estimate going over every block: the time grows with
        // the square of the count (2,048 blocks: 0.2 s; 65,536 would be hours). Real models have a few hundred.
        let layerCount = try integer("\(a).block_count", limit: Self.maxBlockCount) ?? 0
        self.layerCount = layerCount
        self.embeddingLength = try integer("\(a).embedding_length", limit: 1 << 20) ?? 0
        self.feedForwardLength = try integer("\(a).feed_forward_length")
        func perLayer(_ key: String) throws(GGUFError) -> [Int]? {
            guard let entry = metadata.entry(key) else { return nil }
            if let value = entry.value.intValue {
                guard (0...(1 << 16)).contains(value) else {
                    throw GGUFError(.badMetadata, at: entry.offset, "'\(key)' = \(value) is not from 0 to 65536")
                }
                return Array(repeating: value, count: max(layerCount, 1))
            }
            if let values = entry.value.arrayValue {
                let numbers = values.compactMap(\.intValue)
                guard numbers.count == values.count, !numbers.isEmpty,
                    numbers.allSatisfy({ (0...(1 << 16)).contains($0) })
                else {
                    throw GGUFError(.badMetadata, at: entry.offset, "'\(key)' must be integers from 0 to 65536")
                }
                return (0..<max(layerCount, 1)).map { $0 < numbers.count ? numbers[$0] : numbers[numbers.count - 1] }
            }
            throw GGUFError(.badMetadata, at: entry.offset, "'\(key)' must be an integer or an array of integers")
        }
        let heads = try perLayer("\(a).attention.head_count") ?? Array(repeating: 0, count: max(layerCount, 1))
        self.headCount = heads
        self.headCountKV = try perLayer("\(a).attention.head_count_kv") ?? heads
        let firstHeads = heads.first { $0 > 0 } ?? 0
        let defaultHead = firstHeads > 0 ? embeddingLength / firstHeads : 0
        self.keyLength = try integer("\(a).attention.key_length", limit: 1 << 16) ?? defaultHead
        self.valueLength = try integer("\(a).attention.value_length", limit: 1 << 16) ?? defaultHead
        self.contextLength = try integer("\(a).context_length", limit: 1 << 32) ?? 0
        self.expertCount = try integer("\(a).expert_count", limit: 1 << 16) ?? 0
        self.expertUsedCount = try integer("\(a).expert_used_count", limit: 1 << 16) ?? 0

        let window = try integer("\(a).attention.sliding_window", limit: 1 << 32)
        self.slidingWindow = (window ?? 0) > 0 ? window : nil
        var swaLayers = Array(repeating: false, count: layerCount)
        if slidingWindow != nil {
            let patternKey = "\(a).attention.sliding_window_pattern"
            if let flags = metadata[patternKey]?.array, case .bool(let bools) = flags {
                for layer in 0..<min(layerCount, bools.count) { swaLayers[layer] = bools[layer] }
            } else if let pattern = metadata[patternKey]?.intValue ?? Self.defaultSlidingWindowPatterns[a],
                (0...(1 << 16)).contains(pattern)
            {
                for layer in 0..<layerCount { swaLayers[layer] = pattern == 0 || layer % pattern < pattern - 1 }
            }
        }
        self.slidingWindowLayers = swaLayers

        var layerBytes = Array(repeating: UInt64(0), count: layerCount)
        var layerRepack = Array(repeating: [String: UInt64](), count: layerCount)
        var output: UInt64 = 0
        var outputMatrix: UInt64 = 0
        var embedding: UInt64 = 0
        var other: UInt64 = 0
        var total: UInt64 = 0
        var parameters: UInt64 = 0
        var shares: [String: TypeShare] = [:]
        var embeddingRows: Int?
        var hasOutput = false
        var weights: [Weight] = []
        weights.reserveCapacity(tensors.count + 1)
        for tensor in tensors {
            weights.append(Self.weight(tensor, layerCount: layerCount))
            total &+= tensor.byteCount
            parameters &+= tensor.elementCount
            shares[tensor.type.name, default: TypeShare(type: tensor.type.name, tensors: 0, parameters: 0, bytes: 0)]
                .tensors += 1
            shares[tensor.type.name]?.parameters &+= tensor.elementCount
            shares[tensor.type.name]?.bytes &+= tensor.byteCount
            if let layer = Self.blockIndex(tensor.name), layer < layerCount {
                layerBytes[layer] &+= tensor.byteCount
                if tensor.type.isQuantized, tensor.dimensions.count >= 2, tensor.dimensions[1] % 8 == 0 {
                    layerRepack[layer][tensor.type.name, default: 0] &+= tensor.byteCount
                }
            } else if tensor.name == "token_embd.weight" {
                embedding = tensor.byteCount
                if tensor.dimensions.count >= 2 { embeddingRows = Int(exactly: tensor.dimensions[1]) }
            } else if tensor.name.hasPrefix("output_norm.") {
                output &+= tensor.byteCount
            } else if tensor.name.hasPrefix("output.") {
                output &+= tensor.byteCount
                if tensor.name == "output.weight" {
                    outputMatrix = tensor.byteCount
                    hasOutput = true
                }
            } else {
                other &+= tensor.byteCount
            }
        }
        self.outputTiedToEmbedding = !hasOutput && embedding > 0
        if outputTiedToEmbedding, let source = tensors.first(where: { $0.name == "token_embd.weight" }) {
            // llama.cpp loads the token embedding a second time as the output matrix (TENSOR_DUPLICATED).
            var copy = Self.weight(source, layerCount: layerCount)
            copy.layer = layerCount
            copy.operation = .matrixMultiply
            weights.append(copy)
        }
        self.weights = weights
        if outputTiedToEmbedding {
            outputMatrix = embedding
            output &+= embedding
        }
        self.layerBytes = layerBytes
        self.layerRepackCandidates = layerRepack
        self.outputBytes = output
        self.outputMatrixBytes = outputMatrix
        self.tokenEmbeddingBytes = embedding
        self.otherBytes = other
        self.tensorBytes = total
        self.parameterCount = parameters
        self.fileSize = model.fileSize
        self.quantization = shares.values.sorted { ($0.bytes, $0.type) > ($1.bytes, $1.type) }
        let declaredVocabulary = try integer("\(a).vocab_size", limit: 1 << 32)
        self.vocabularySize =
            metadata["tokenizer.ggml.tokens"]?.array?.count ?? declaredVocabulary ?? embeddingRows ?? 0
    }

    /// A tensor as the estimator sees it: its layer and how llama.cpp uses it.
    static func weight(_ tensor: GGUFTensorInfo, layerCount: Int) -> Weight {
        let name = tensor.name
        var layer: Int?
        if let block = blockIndex(name) {
            // Blocks past the model's layers (a head's own blocks) go with the output, as llama.cpp does.
            layer = min(block, layerCount)
        } else if name.hasPrefix("output.") || name.hasPrefix("output_norm.") {
            layer = layerCount
        }
        let operation: Weight.Operation
        if name == "token_embd.weight" {
            operation = .rowLookup
        } else if name.hasSuffix(".weight") && tensor.dimensions.count == 3 && name.contains("_exps") {
            operation = .expertMultiply
        } else if name.hasSuffix(".weight") && tensor.dimensions.count == 2 && tensor.dimensions[1] > 1 {
            operation = .matrixMultiply
        } else {
            operation = .elementwise
        }
        return Weight(
            name: name, layer: layer, type: tensor.type.name, dimensions: tensor.dimensions, bytes: tensor.byteCount,
            shard: tensor.shard, offset: tensor.offset, operation: operation)
    }

    /// The block index N of a tensor named `blk.N.*`.
    /// The most blocks a model may declare.
    public static let maxBlockCount = 2048

    static func blockIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: ".") else { return nil }
        // Digits only, as llama.cpp writes them (`blk.%d.`): `Int` would also take "-1" or "+1".
        let digits = rest[rest.startIndex..<dot]
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(digits)
    }
}
