import ControlAPI
import Foundation
import Host
import OrchestratorCore
import StateStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A project root with the tiny `dense` model, instances on the stub (or the real) llama-server, and the
/// daemon run through the built CLI. `cleanUp()` stops the daemon and kills anything of the root that is
/// left: the daemon by its pid file, servers by their marker and working folder.
public struct DaemonHarness: Sendable {
    public let project: TemporaryProject
    public var root: String { project.root }

    public init(_ name: String) throws {
        project = try TemporaryProject(name)
        let result = try CommandRunner.run(
            CommandRunner.product("make-tiny-model"), ["--kind", "dense", "--out", project.root + "/models/dense.gguf"])
        try #require(result.status == 0, "make-tiny-model failed: \(result.stderr)")
    }

    public static var stub: String { CommandRunner.product("stub-llama-server") }

    /// Writes an instance on the stub server: probes every 100 ms, backoff in tenths of a second, a 10 s start
    /// period unless told otherwise. `healthcheck` replaces the whole `healthcheck` object, `binary` the server.
    public func stubInstance(
        _ name: String, port: Int, args: [String] = ["--log-interval", "0.1"],
        restart: String = #"{"initial_delay": 0.1, "max_delay": 1, "jitter": 0}"#, startPeriod: Double = 10,
        healthcheck: String? = nil, binary: String = DaemonHarness.stub, extra: String = ""
    ) throws {
        let arguments = args.map { "\"\($0)\"" }.joined(separator: ", ")
        let probes = healthcheck ?? #"{"interval": 0.1, "timeout": 1, "retries": 3, "start_period": \#(startPeriod)}"#
        try project.writeConfig(
            name,
            """
            {"name": "\(name)", "model": {"path": "../../models/dense.gguf", "context_size": 256},
             "server": {"port": \(port)}, "gpu": {"backend": "cpu"}, "binary": {"path": "\(binary)"},
             "healthcheck": \(probes),
             "restart_policy": \(restart),
             "args": [\(arguments)]\(extra)}
            """)
    }

    /// Runs `llama-orch ARGS --root ROOT`.
    @discardableResult
    public func cli(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try CommandRunner.llamaOrch(arguments + ["--root", root], environment: environment)
    }

    /// Runs the CLI and requires exit 0.
    @discardableResult
    public func ok(_ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        let result = try cli(arguments, environment: environment)
        try #require(
            result.status == 0,
            "llama-orch \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        return result
    }

    /// `ps -a --json`.
    public func ps() throws -> [InstanceStatus] {
        let result = try ok(["ps", "-a", "--json"])
        return try JSONDecoder.snakeCase.decode([InstanceStatus].self, from: Data(result.stdout.utf8))
    }

    /// The daemon's pid from `state/daemon.pid`.
    public var daemonPID: Int32? {
        project.read("state/daemon.pid").flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    public func store() throws -> StateStore {
        try StateStore.open(path: root + "/state/state.sqlite").store
    }

    /// Live processes of this root that carry an instance marker (servers and anything they forked).
    public func markedProcesses() -> [Int32] {
        Self.liveProcesses().filter { pid in
            guard let environment = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")),
                String(decoding: environment, as: UTF8.self).contains("LLAMA_ORCH_INSTANCE=")
            else { return false }
            return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) == root
        }
    }

    /// Stops the daemon and its servers; kills whatever is left. Call in `defer`.
    public func cleanUp() {
        _ = try? cli(["daemon", "stop", "--timeout", "20"])
        if let pid = daemonPID, Self.isAlive(pid) { kill(pid, SIGKILL) }
        for pid in markedProcesses() { kill(pid, SIGKILL) }
        // LLAMA_ORCH_KEEP_TEST_ROOTS=1 keeps each test's project (configs, logs, state) to look at after a failure.
        if ProcessInfo.processInfo.environment["LLAMA_ORCH_KEEP_TEST_ROOTS"] == "1" {
            FileHandle.standardError.write(Data("kept the test project \(root)\n".utf8))
        } else {
            project.remove()
        }
    }

    /// Waits until `condition` holds, polling; false after `limit`.
    public static func eventually(
        _ limit: Duration = .seconds(20), _ condition: () throws -> Bool
    ) async throws -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try condition()
    }

    /// Whether `pid` is a live process (zombies count as gone).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0,
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    public static func liveProcesses() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter(isAlive)
    }

    /// Runs CLI commands at the same time, each on its own thread; results in order.
    public func concurrently(_ commands: [[String]]) -> [CommandResult?] {
        let results = LockedResults(count: commands.count)
        let group = DispatchGroup()
        for (index, command) in commands.enumerated() {
            group.enter()
            let root = root
            Thread.detachNewThread {
                results.set(index, try? CommandRunner.llamaOrch(command + ["--root", root]))
                group.leave()
            }
        }
        group.wait()
        return results.all
    }
}

/// Results written from several threads.
public final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [CommandResult?]

    public init(count: Int) { values = Array(repeating: nil, count: count) }

    public func set(_ index: Int, _ value: CommandResult?) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }

    public var all: [CommandResult?] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}

extension JSONDecoder {
    /// For the CLI's `--json` output: its types spell their snake_case keys out, so no key strategy.
    public static var snakeCase: JSONDecoder { JSONDecoder() }
}

/// Starts a program with default signal dispositions and an empty signal mask (a test thread's mask would be
/// inherited through Foundation's Process, and a blocked SIGTERM makes a stop wait out the grace period).
public func spawnDetached(_ argv: [String], environment: [String]) throws -> pid_t {
    switch CleanSpawn.spawn(argv, environment: environment) {
    case .success(let pid): return pid
    case .failure(let error): throw error
    }
}
