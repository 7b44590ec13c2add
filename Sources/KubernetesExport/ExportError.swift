import OrchestratorCore

/// `export kubernetes` could not render or write the manifests; nothing was written.
public enum ExportError: OrchestratorError, Equatable {
    /// The options or the configs ask for something no manifest can say (a bad `--storage`, DRA before 1.34, two
    /// instances with one Kubernetes name).
    case usage(String)
    /// The devices don't say which GPU API runs the instance (`CUDA0`, `ROCm0`, `Vulkan0`).
    case unknownAccelerator(instance: String, devices: [String])
    /// Files in the output folder that an earlier export did not write: path list.
    case wouldOverwrite([String])
    /// The output folder or a file in it could not be written.
    case cannotWrite(String, reason: String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .usage, .unknownAccelerator: .usage
        case .wouldOverwrite: .alreadyExists
        case .cannotWrite: .failure
        }
    }

    public var description: String {
        switch self {
        case .usage(let message):
            message
        case .unknownAccelerator(let instance, let devices):
            "\(instance): cannot tell which GPU API runs on \(devices.joined(separator: ", ")) (llama.cpp names them "
                + "CUDA0, ROCm0 or Vulkan0); give the devices those names (llama_name in a --devices-file)"
        case .wouldOverwrite(let paths):
            "\(paths.joined(separator: ", ")) \(paths.count == 1 ? "exists" : "exist") and "
                + "\(paths.count == 1 ? "was" : "were") not written by llama-orch export; pass --force to replace "
                + "\(paths.count == 1 ? "it" : "them")"
        case .cannotWrite(let path, let reason):
            "cannot write \(path): \(reason)"
        }
    }
}
