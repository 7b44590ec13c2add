import Foundation
import OrchestratorCore

/// The exact way to start one llama-server: an argv array (never a shell line) and the environment
/// to add to the daemon's.
public struct LaunchCommand: Sendable, Equatable, Codable {
    public var executable: String
    /// `argv[0]` is the executable.
    public var argv: [String]
    public var environment: [String: String]

    /// The command line for display, each argument quoted when it needs to be.
    public var displayLine: String {
        let variables = environment.keys.sorted().map { "\($0)=\(shellQuoted(environment[$0] ?? ""))" }
        return (variables + argv.map(shellQuoted)).joined(separator: " ")
    }
}

/// Quotes `text` for a POSIX shell when it contains anything but safe characters (display only).
public func shellQuoted(_ text: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !text.isEmpty && text.allSatisfy({ safe.contains($0) }) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Turns a config and its placement into llama-server's command line for the detected version.
///
/// The orchestrator decides the placement, so newer builds get `--fit off` (their own fitting would
/// override it); `-ngl` is written in the meaning of that build; `-c` and `-np` are always explicit
/// (newer builds otherwise default to 4 unified slots); `--metrics` always (the router's `/metrics` includes each
/// server's `llamacpp:*` series, and the measurements read them). The user's `args` come last and win.
public struct CommandBuilder: Sendable {
    public var binary: LlamaServerBinary
    /// `-t` when the config leaves `model.threads` unset: the host's physical cores.
    public var defaultThreads: Int

    public init(binary: LlamaServerBinary, defaultThreads: Int) {
        self.binary = binary
        self.defaultThreads = defaultThreads
    }

    public func command(for config: InstanceConfig, placement: Placement, launch: LaunchSettings) -> LaunchCommand {
        let capabilities = binary.capabilities
        var argv = [binary.path]
        argv += ["-m", config.model.resolvedPath]
        argv += ["--host", config.server.host, "--port", String(config.server.port)]
        argv += ["-c", String(config.model.contextSize), "-np", String(config.server.parallel)]
        argv += ["-b", String(config.model.batchSize)]
        if let ubatch = config.model.ubatchSize { argv += ["-ub", String(ubatch)] }
        argv += ["-t", String(config.model.threads ?? defaultThreads)]
        if let timeout = config.server.timeout { argv += ["--timeout", String(Int(timeout.rounded(.up)))] }

        if placement.mode == .cpuOnly {
            argv += ["-ngl", "0"]
            if capabilities.hasDevice && capabilities.deviceAcceptsNone { argv += ["--device", "none"] }
        } else {
            let names = launch.deviceNames.isEmpty ? placement.shares.compactMap(\.llamaName) : launch.deviceNames
            if capabilities.hasDevice && !names.isEmpty { argv += ["--device", names.joined(separator: ",")] }
            argv += ["-ngl", gpuLayersArgument(placement)]
            if placement.shares.count > 1 {
                argv += ["--split-mode", "layer"]
                argv += [
                    "--tensor-split",
                    placement.shares.map { String($0.blockCount + ($0.holdsOutput ? 1 : 0)) }.joined(separator: ","),
                ]
            } else {
                argv += ["--split-mode", "none"]
            }
        }
        if capabilities.hasFit { argv += ["--fit", "off"] }
        argv += ["-ctk", config.model.cacheTypeK.rawValue, "-ctv", config.model.cacheTypeV.rawValue]
        if capabilities.flashAttentionTakesValue {
            argv += ["-fa", config.model.flashAttention.rawValue]
        } else if config.model.flashAttention == .on {
            argv += ["-fa"]
        }
        if capabilities.hasAlias { argv += ["--alias", config.name] }
        if !config.args.contains("--metrics") { argv += ["--metrics"] }
        argv += config.args

        var environment = config.env
        for (key, value) in launch.environment { environment[key] = value }
        return LaunchCommand(executable: binary.path, argv: argv, environment: environment)
    }

    /// `-ngl` for a GPU placement in this build's meaning.
    func gpuLayersArgument(_ placement: Placement) -> String {
        if placement.isFullOffload { return binary.capabilities.nglAcceptsAll ? "all" : "999" }
        switch binary.capabilities.offloadOrder {
        case .outputFirst:
            // The output layer is counted first: N = blocks + 1 when it is on the GPU.
            return String(placement.offloadedBlocks + (placement.offloadsOutput ? 1 : 0))
        case .outputLast:
            return String(placement.offloadedBlocks)
        }
    }
}
