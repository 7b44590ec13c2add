import Foundation
import Host
import OrchestratorCore

/// A llama-server executable and what its version accepts, detected once from `--version` and
/// `--help` and cached by path, size and modification time.
public struct LlamaServerBinary: Sendable, Equatable, Codable {
    public var path: String
    public var capabilities: Capabilities

    public init(path: String, capabilities: Capabilities) {
        self.path = path
        self.capabilities = capabilities
    }

    /// Flags and meanings that differ across llama.cpp versions.
    public struct Capabilities: Sendable, Equatable, Codable {
        /// The `version:` line as printed (`0.6.0-dev (build 0, commit unknown)`, `6152 (abc1234)`).
        public var version: String
        /// `--fit` exists (newer builds fit the model themselves unless told `--fit off`).
        public var hasFit: Bool
        /// `-ngl` accepts `all`.
        public var nglAcceptsAll: Bool
        /// What `-ngl N` means for a partial offload.
        public var offloadOrder: OffloadOrder
        /// `--flash-attn` takes a value (`on|off|auto`) rather than being a bare switch.
        public var flashAttentionTakesValue: Bool
        /// `--device` exists, and whether it accepts `none`.
        public var hasDevice: Bool
        public var deviceAcceptsNone: Bool
        /// `--kv-unified` exists (a unified KV cache is then possible).
        public var hasKVUnified: Bool
        /// `-lv` / `--verbosity` exists.
        public var hasVerbosity: Bool
        /// `--alias` exists.
        public var hasAlias: Bool

        /// Reads the capabilities from the text of `--version` and `--help`.
        public init(versionText: String, helpText: String) {
            version =
                versionText.split(separator: "\n").first { $0.hasPrefix("version:") }
                .map { String($0.dropFirst("version:".count)).trimmingCharacters(in: .whitespaces) } ?? "unknown"
            let help = helpText
            hasFit = help.contains("--fit ")
            let nglHelp = Self.helpEntry(for: "--gpu-layers", in: help)
            nglAcceptsAll = nglHelp.contains("'all'")
            // The 2026 change that offloads the output layer first came with `-ngl auto|all`.
            offloadOrder = nglAcceptsAll ? .outputFirst : .outputLast
            let faHelp = Self.helpEntry(for: "--flash-attn", in: help)
            flashAttentionTakesValue = faHelp.contains("[on|off|auto]") || faHelp.contains("'on'")
            let deviceHelp = Self.helpEntry(for: "--device ", in: help)
            hasDevice = !deviceHelp.isEmpty
            deviceAcceptsNone = deviceHelp.contains("none")
            hasKVUnified = help.contains("--kv-unified")
            hasVerbosity = help.contains("--verbosity")
            hasAlias = help.contains("--alias")
        }

        /// The help lines of one option: its line and the indented continuation lines.
        static func helpEntry(for option: String, in help: String) -> String {
            let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
            guard let start = lines.firstIndex(where: { $0.hasPrefix("-") && $0.contains(option) }) else { return "" }
            var entry = [lines[start]]
            var index = start + 1
            while index < lines.count, lines[index].hasPrefix(" ") {
                entry.append(lines[index])
                index += 1
            }
            return entry.joined(separator: "\n")
        }
    }
}

/// Finds llama-server and detects its capabilities.
public struct LlamaServerLocator: Sendable {
    public var environment: [String: String]
    public var projectRoot: ProjectRoot?
    /// Where detected capabilities are cached (`~/.cache/llama-orch/capabilities.json`); `nil` keeps none.
    public var cacheFile: String?
    /// How long `--version` / `--help` may take.
    public var timeout: Double

    public init(
        environment: [String: String], projectRoot: ProjectRoot?, cacheFile: String? = nil, timeout: Double = 20
    ) {
        self.environment = environment
        self.projectRoot = projectRoot
        self.cacheFile = cacheFile
        self.timeout = timeout
    }

    /// The default cache file under the user's cache folder.
    public static func defaultCacheFile(environment: [String: String]) -> String? {
        if let cache = environment["XDG_CACHE_HOME"], !cache.isEmpty { return cache + "/llama-orch/capabilities.json" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/llama-orch/capabilities.json" }
        return nil
    }

    /// The places searched, in order (`LlamaServerSearch`).
    public func candidates(configured: String?) -> [(source: String, path: String)] {
        LlamaServerSearch(environment: environment, projectRoot: projectRoot?.path).candidates(configured: configured)
    }

    /// The first executable candidate, or an error saying where it looked and what to do.
    public func locate(configured: String?) throws(LlamaServerError) -> String {
        do {
            return try LlamaServerSearch(environment: environment, projectRoot: projectRoot?.path)
                .find(configured: configured).path
        } catch {
            switch error {
            case .notExecutable(let path, let source): throw .notExecutable(path, source: source)
            case .notFound(let searched): throw .notFound(searched: searched)
            }
        }
    }

    /// Locates the binary and detects (or loads from the cache) its capabilities.
    public func binary(configured: String?) async throws(LlamaServerError) -> LlamaServerBinary {
        let path = try locate(configured: configured)
        return LlamaServerBinary(path: path, capabilities: try await capabilities(of: path))
    }

    /// The capabilities of the binary at `path`, from the cache when its size and mtime are unchanged.
    public func capabilities(of path: String) async throws(LlamaServerError) -> LlamaServerBinary.Capabilities {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.uint64Value ?? 0
        let mtime = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = "\(path)|\(size)|\(mtime)"
        var cache = loadCache()
        if let cached = cache[key] { return cached }
        let version = try await run(path, ["--version"])
        let help = try await run(path, ["--help"])
        guard help.contains("--port") else {
            throw .notLlamaServer(path, detail: String(help.prefix(200)))
        }
        let capabilities = LlamaServerBinary.Capabilities(versionText: version, helpText: help)
        cache[key] = capabilities
        saveCache(cache)
        return capabilities
    }

    private func loadCache() -> [String: LlamaServerBinary.Capabilities] {
        guard let cacheFile, let data = FileManager.default.contents(atPath: cacheFile) else { return [:] }
        return (try? JSONDecoder().decode([String: LlamaServerBinary.Capabilities].self, from: data)) ?? [:]
    }

    private func saveCache(_ cache: [String: LlamaServerBinary.Capabilities]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let cacheFile, let data = try? encoder.encode(cache) else { return }
        let folder = (cacheFile as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? writeAtomically(String(decoding: data, as: UTF8.self), to: cacheFile)
    }

    /// Runs the binary with `arguments`, returning its output (stdout and stderr together).
    private func run(_ path: String, _ arguments: [String]) async throws(LlamaServerError) -> String {
        do {
            return try await ProgramRunner.run(path, arguments, timeout: .seconds(timeout)).output
        } catch {
            switch error {
            case .timedOut: throw .timedOut(path, arguments: arguments, seconds: timeout)
            case .cannotRun(_, let reason): throw .cannotRun(path, detail: reason)
            }
        }
    }
}

/// No usable llama-server.
public enum LlamaServerError: OrchestratorError, Equatable {
    case notFound(searched: [String])
    case notExecutable(String, source: String)
    case notLlamaServer(String, detail: String)
    case cannotRun(String, detail: String)
    case timedOut(String, arguments: [String], seconds: Double)

    public var exitCode: OrchestratorExitCode { .binaryMissing }

    public var description: String {
        switch self {
        case .notFound(let searched):
            "no llama-server found (looked at \(searched.joined(separator: "; "))); build one with "
                + "scripts/build-llama-server.sh, set LLAMA_SERVER to its path, or copy it to the project's bin/"
        case .notExecutable(let path, let source):
            "\(source) names \(path), which is not an executable file; fix the path or make it executable (chmod +x)"
        case .notLlamaServer(let path, let detail):
            "\(path) does not look like llama-server (its --help has no --port): \(detail)"
        case .cannotRun(let path, let detail):
            "cannot run \(path): \(detail)"
        case .timedOut(let path, let arguments, let seconds):
            "\(path) \(arguments.joined(separator: " ")) did not finish within \(Int(seconds)) s; the binary may hang in a GPU driver"
        }
    }
}
