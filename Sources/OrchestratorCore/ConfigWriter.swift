import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

private typealias Defaults = InstanceConfig.Defaults

/// Writes new instance configs (for `llama-orch init`): the fields a user is likely to edit, in the
/// README's order, and atomically, so a failed write never leaves half a file.
public struct NewInstanceConfig: Sendable, Equatable {
    public var name: String
    /// As it will appear in the file: relative to the config file's folder where possible.
    public var modelPath: String
    public var contextSize: Int
    public var port: Int
    public var host: String
    public var parallel: Int
    public var backend: String

    public init(
        name: String, modelPath: String, contextSize: Int = InstanceConfig.Defaults.contextSize, port: Int,
        host: String = InstanceConfig.Defaults.host, parallel: Int = InstanceConfig.Defaults.parallel,
        backend: String = InstanceConfig.Defaults.gpu.backend
    ) {
        self.name = name
        self.modelPath = modelPath
        self.contextSize = contextSize
        self.port = port
        self.host = host
        self.parallel = parallel
        self.backend = backend
    }

    /// The config as JSON text, two-space indented, ending with a newline.
    public var jsonText: String {
        let health = Defaults.healthcheck
        return """
            {
              "name": \(jsonQuoted(name)),
              "model": {
                "path": \(jsonQuoted(modelPath)),
                "context_size": \(contextSize)
              },
              "server": {
                "host": \(jsonQuoted(host)),
                "port": \(port),
                "parallel": \(parallel)
              },
              "gpu": {
                "backend": \(jsonQuoted(backend)),
                "layers": \(jsonQuoted(Defaults.gpu.layers.description))
              },
              "healthcheck": {
                "type": \(jsonQuoted(health.type)),
                "interval": \(format(health.interval)),
                "timeout": \(format(health.timeout)),
                "retries": \(health.retries),
                "start_period": \(format(health.startPeriod))
              },
              "restart_policy": {
                "type": \(jsonQuoted(Defaults.restartPolicy.type)),
                "max_retries": \(Defaults.restartPolicy.maxRetries)
              }
            }

            """
    }
}

/// Writes `contents` to `path` through a temporary file in the same folder and a rename. A file that exists keeps
/// its mode (a config holding a token may be the owner's only), and a symbolic link stays one: its target is
/// written.
public func writeAtomically(_ contents: String, to link: String) throws {
    let path = URL(fileURLWithPath: link).resolvingSymlinksInPath().path
    let folder = (path as NSString).deletingLastPathComponent
    let temporary =
        folder + "/.\((path as NSString).lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)"
    try Data(contents.utf8).write(to: URL(fileURLWithPath: temporary))
    var existing = stat()
    if stat(path, &existing) == 0 { chmod(temporary, existing.st_mode & 0o7777) }
    // rename(2) replaces the target atomically: a reader sees the old file or the new one, never a mix.
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: temporary)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot write \(path): \(reason)"])
    }
}

/// `path` relative to `folder` when both are absolute (`../../models/m.gguf`), else `path`.
public func relativePath(_ path: String, from folder: String) -> String {
    let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
    let base = URL(fileURLWithPath: folder).standardizedFileURL.pathComponents
    var common = 0
    while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
    if common <= 1 { return URL(fileURLWithPath: path).standardizedFileURL.path }
    let ups = Array(repeating: "..", count: base.count - common)
    return (ups + target[common...]).joined(separator: "/")
}
