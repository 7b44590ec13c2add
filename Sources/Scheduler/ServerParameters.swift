import GGUF
import OrchestratorCore

/// The llama-server settings that decide memory: what the command builder will pass and the estimator prices.
public struct ServerParameters: Sendable, Codable, Equatable {
    /// `-c`: the context over all slots.
    public var contextSize: Int
    /// `-np`: slots (parallel sequences).
    public var slots: Int = 1
    /// `-kvu`: one KV cache shared by all slots instead of `contextSize / slots` cells each.
    public var unifiedKV: Bool = false
    /// `-b`: logical batch.
    public var batchSize: Int = 2048
    /// `-ub`: physical batch; the compute buffers are sized for min(context, ubatch) tokens.
    public var ubatchSize: Int = 512
    /// `-ctk`: K cache type name (`f16`, `q8_0`, ...).
    public var cacheTypeK: String = "f16"
    /// `-ctv`: V cache type name; a quantized V cache needs flash attention.
    public var cacheTypeV: String = "f16"
    /// `-fa on|off`.
    public var flashAttention: Bool = true
    /// Layers per device, in order; the rest stay in host memory (see `MemoryEstimator` for which layers).
    public var deviceLayers: [DeviceLayers] = []
    /// `-kvo` (default) or `-nkvo`: whether a device layer's KV cache lives on its device.
    public var kvOffload: Bool = true
    /// `--swa-full`: full-size caches for sliding-window layers.
    public var swaFull: Bool = false
    /// Which weight types the CPU backend repacks (`--repack`, default on); `.none` for `--no-repack`.
    public var cpuRepack: CPURepack = .x86AVX2
    /// Whether a GPU backend is loaded even with no layers on it (a GPU build run without `--device none`).
    /// With one loaded, llama.cpp offers host-resident weights to the GPU's pinned host buffer type before the
    /// CPU's repacked one, and with mmap that means they stay in the mapped file: nothing the GPU could take is
    /// repacked. Devices in `deviceLayers` imply it.
    public var gpuBackendLoaded: Bool = false
    /// `--op-offload` (llama.cpp's default): large batches of host-resident weights are multiplied on the first
    /// GPU, which then holds a copy of each such weight (and its result) in its compute buffer.
    public var opOffload: Bool = true
    /// Whether the server is an older llama.cpp (such as the one llama-cpp-python 0.3.16 vendors): its worst-case
    /// graph keeps logits for every token of the ubatch and an f32 copy of the mask (compute buffers priced with
    /// `ComputeBufferModel.legacyBytes`); its `-ngl` counts blocks, so with a partial offload the output layer
    /// stays in host memory; its Vulkan backend checks no tensor sizes; op offload copies a split's weights together.
    public var legacyComputeGraph: Bool = false
    /// Bytes added to each device for what no buffer shows (backend context, driver scratch).
    public var deviceOverhead: UInt64 = 0
    /// Bytes added to host memory for the same.
    public var hostOverhead: UInt64 = 0

    /// Parameters for a context size, everything else at llama-server's defaults (with `-np 1`, CPU only).
    public init(contextSize: Int) { self.contextSize = contextSize }

    /// Layers assigned to one device.
    public struct DeviceLayers: Sendable, Codable, Equatable {
        /// The device's name as llama.cpp names it.
        public var device: String
        /// How many layers (block layers, and the output layer counted as one) go to it.
        public var layers: Int
        /// The largest tensor the device's backend accepts (Vulkan: its storage-buffer range and allocation
        /// limits), or `nil` for no limit. Newer llama.cpp builds keep a larger weight in host memory even when
        /// its layer is on the device, and never offload an operation on one.
        public var maxTensorBytes: UInt64?

        /// A device and its layer count.
        public init(device: String, layers: Int, maxTensorBytes: UInt64? = nil) {
            self.device = device
            self.layers = layers
            self.maxTensorBytes = maxTensorBytes
        }
    }

    /// The weight types the CPU backend copies into a repacked layout (a second copy in host memory).
    ///
    /// llama.cpp picks repacked layouts by CPU feature (`ggml_repack_get_optimal_repack_type`): on x86 with AVX2,
    /// Q4_0, Q4_K, IQ4_NL and MXFP4 matrices whose row count is a multiple of 8 (AVX-512 adds Q2_K); on ARM with
    /// dotprod/i8mm also Q8_0, Q5_K and Q6_K. Any matrix (2-D `MUL_MAT`, or 3-D experts) in host memory qualifies,
    /// the output matrix included; the token embedding (a row lookup) never does.
    public struct CPURepack: Sendable, Codable, Equatable {
        /// ggml type names.
        public var types: Set<String>

        /// A rule from type names.
        public init(types: Set<String>) { self.types = types }

        /// `--no-repack`, or a CPU without the needed features.
        public static let none = CPURepack(types: [])
        /// x86-64 with AVX2.
        public static let x86AVX2 = CPURepack(types: ["Q4_0", "Q4_K", "IQ4_NL", "MXFP4"])
        /// x86-64 with AVX-512.
        public static let x86AVX512 = CPURepack(types: ["Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q2_K"])
        /// ARM with dotprod and i8mm.
        public static let arm = CPURepack(types: ["Q4_0", "Q4_K", "IQ4_NL", "MXFP4", "Q8_0", "Q5_K", "Q6_K", "Q1_0"])
    }
}

/// Parameters the estimator cannot price.
public struct EstimateError: OrchestratorError, Equatable {
    /// What is wrong.
    public let message: String
    public var description: String { message }
    public var exitCode: OrchestratorExitCode { .configInvalid }
}
