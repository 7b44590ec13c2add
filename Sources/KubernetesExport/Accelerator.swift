import OrchestratorCore
import Scheduler

/// The GPU API an instance runs on in its pod: the image, the device plugin's resource and the DRA device class
/// follow from it.
public enum Accelerator: String, Sendable, Equatable, Codable, CaseIterable {
    case cpu
    case cuda
    case rocm
    case vulkan

    /// The accelerator of a placement, told by llama.cpp's names for its devices (`CUDA0`, `ROCm1`, `Vulkan0`); a
    /// CPU-only placement is `cpu`.
    ///
    /// - Throws: `ExportError.unknownAccelerator` when a name says nothing, or the devices disagree.
    public static func of(_ placement: Placement, devices: [Device]) throws(ExportError) -> Accelerator {
        guard placement.mode != .cpuOnly, !placement.shares.isEmpty else { return .cpu }
        var found: Set<Accelerator> = []
        var names: [String] = []
        for share in placement.shares {
            let device = devices.first { $0.id == share.deviceID }
            let name = share.llamaName ?? device?.llamaName ?? share.deviceID
            names.append(name)
            if let accelerator = fromLlamaName(name) {
                found.insert(accelerator)
            } else if device?.backend == "vulkan" {
                found.insert(.vulkan)
            } else {
                throw .unknownAccelerator(instance: placement.instance, devices: names)
            }
        }
        guard found.count == 1, let only = found.first else {
            throw .unknownAccelerator(instance: placement.instance, devices: names)
        }
        return only
    }

    /// `CUDA0` → cuda, `ROCm0` (or `HIP0`) → rocm, `Vulkan0` → vulkan.
    static func fromLlamaName(_ name: String) -> Accelerator? {
        let prefixes: [(String, Accelerator)] = [("CUDA", .cuda), ("ROCm", .rocm), ("HIP", .rocm), ("Vulkan", .vulkan)]
        for (prefix, accelerator) in prefixes where name.hasPrefix(prefix) {
            if name.dropFirst(prefix.count).allSatisfy(\.isNumber) { return accelerator }
        }
        return nil
    }

    /// llama.cpp's published server image for this accelerator.
    public var image: String {
        switch self {
        case .cpu: "ghcr.io/ggml-org/llama.cpp:server"
        case .cuda: "ghcr.io/ggml-org/llama.cpp:server-cuda"
        case .rocm: "ghcr.io/ggml-org/llama.cpp:server-rocm"
        case .vulkan: "ghcr.io/ggml-org/llama.cpp:server-vulkan"
        }
    }

    /// The extended resource a device plugin advertises (NVIDIA's and AMD's plugins; for Vulkan the generic device
    /// plugin with a `dri` device of `/dev/dri/renderD*`).
    public var devicePluginResource: String? {
        switch self {
        case .cpu: nil
        case .cuda: "nvidia.com/gpu"
        case .rocm: "amd.com/gpu"
        case .vulkan: "squat.ai/dri"
        }
    }

    /// The DeviceClass of the vendor's DRA driver, whose devices publish a `memory` capacity under the same domain;
    /// Vulkan has no such driver.
    public var draDeviceClass: String? {
        switch self {
        case .cpu, .vulkan: nil
        case .cuda: "gpu.nvidia.com"
        case .rocm: "gpu.amd.com"
        }
    }

    /// Where llama-server is in llama.cpp's images (their entry point).
    public static let serverPath = "/app/llama-server"

    /// What the llama-server of llama.cpp's current images accepts, for the command builder.
    ///
    /// `--device` is left out on purpose: the pod sees only the GPUs it was given, numbered from 0, and llama-server
    /// uses every device it sees, in order.
    public static var imageCapabilities: LlamaServerBinary.Capabilities {
        var capabilities = LlamaServerBinary.Capabilities(versionText: "version: llama.cpp image", helpText: "")
        capabilities.hasFit = true
        capabilities.nglAcceptsAll = true
        capabilities.offloadOrder = .outputFirst
        capabilities.flashAttentionTakesValue = true
        capabilities.hasDevice = false
        capabilities.deviceAcceptsNone = false
        capabilities.hasKVUnified = true
        capabilities.hasVerbosity = true
        capabilities.hasAlias = true
        return capabilities
    }

    /// The llama-server of the images, as the planner and the command builder take it.
    public static var imageBinary: LlamaServerBinary {
        LlamaServerBinary(path: serverPath, capabilities: imageCapabilities)
    }
}
