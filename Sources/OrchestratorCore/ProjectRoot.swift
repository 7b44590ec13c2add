import Foundation

/// A project root: the folder that holds `instances/`, `state/`, `logs/` and optionally `bin/`.
public struct ProjectRoot: Sendable, Equatable {
    /// Absolute, standardized path of the root folder.
    public let path: String

    public init(path: String) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    public var instancesDirectory: String { path + "/instances" }
    public var stateDirectory: String { path + "/state" }
    public var logsDirectory: String { path + "/logs" }
    public var binDirectory: String { path + "/bin" }
    public var stateDatabase: String { stateDirectory + "/state.sqlite" }

    /// The folder of one instance: `instances/<name>`.
    public func instanceDirectory(_ name: String) -> String { instancesDirectory + "/" + name }
    /// The config file of one instance: `instances/<name>/config.json`.
    public func configFile(_ name: String) -> String { instanceDirectory(name) + "/config.json" }
    /// The log folder of one instance: `logs/<name>`.
    public func logDirectory(_ name: String) -> String { logsDirectory + "/" + name }

    /// Finds the root: an explicit `--root`, else `LLAMA_ORCH_ROOT` (either must name a folder with `instances/` or
    /// `state/`), else the nearest parent of `workingDirectory` (itself included) that has an `instances/` folder.
    public static func locate(
        explicit: String?, environment: [String: String], workingDirectory: String
    ) throws(ProjectRootError) -> ProjectRoot {
        let fileManager = FileManager.default
        func isDirectory(_ path: String) -> Bool {
            var directory: ObjCBool = false
            return fileManager.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
        }
        let named: (path: String, source: String)? =
            if let explicit, !explicit.isEmpty {
                (explicit, "--root")
            } else if let fromEnvironment = environment["LLAMA_ORCH_ROOT"], !fromEnvironment.isEmpty {
                (fromEnvironment, "LLAMA_ORCH_ROOT")
            } else {
                nil
            }
        if let named {
            let (path, source) = (
                named.path.hasPrefix("/") ? named.path : workingDirectory + "/" + named.path, named.source
            )
            guard isDirectory(path) else { throw .notADirectory(path, source: source) }
            // A mistyped root would otherwise get a daemon of its own (and the router's port); one whose
            // instances/ went away after a daemon ran there (state/) can still be stopped.
            guard isDirectory(path + "/instances") || isDirectory(path + "/state") else {
                throw .notAProject(path, source: source)
            }
            return ProjectRoot(path: path)
        }
        var url = URL(fileURLWithPath: workingDirectory).standardizedFileURL
        while true {
            if isDirectory(url.path + "/instances") { return ProjectRoot(path: url.path) }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        throw .notFound(from: workingDirectory)
    }
}

/// No project root could be found or the one named is not a folder.
public enum ProjectRootError: OrchestratorError, Equatable {
    case notADirectory(String, source: String)
    /// A folder without `instances/`: `init` makes it a project.
    case notAProject(String, source: String)
    case notFound(from: String)

    public var exitCode: OrchestratorExitCode { .notFound }

    public var description: String {
        switch self {
        case .notADirectory(let path, let source):
            "project root '\(path)' (from \(source)) is not a folder; create it or point \(source) elsewhere"
        case .notAProject(let path, let source):
            "'\(path)' (from \(source)) is not a llama-orch project: it has no instances/ (or state/) folder; run "
                + "'llama-orch init NAME --model PATH --root \(path)' to make one, or point \(source) at a project"
        case .notFound(let from):
            "no project root: neither '\(from)' nor any parent has an instances/ folder; "
                + "run 'llama-orch init NAME --model PATH' in the project folder, or pass --root"
        }
    }
}
