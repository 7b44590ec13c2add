import Dashboard
import Foundation
import Host
import OrchestratorCore
import Scheduler
import StateStore
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A project whose state store records what a daemon would have: `alpha` and `beta` served by two real
/// `stub-llama-server` processes (healthy; loading), `gamma` whose process is gone (crash-looping, 3
/// restarts), and `delta` never started. The servers write to `logs/<name>/stderr.log`, as under the daemon.
final class RecordedProject {
    let project: TemporaryProject
    let store: StateStore
    /// The stub servers' pids, by instance.
    private(set) var servers: [String: pid_t] = [:]
    let ports: [String: Int]
    static let now = Date().timeIntervalSince1970
    static let gib: UInt64 = 1 << 30

    init(_ name: String) throws {
        project = try TemporaryProject(name)
        try project.writeFakeModel("models/alpha.gguf")
        try project.writeFakeModel("models/beta.gguf")
        var ports: [String: Int] = [:]
        for instance in ["alpha", "beta", "gamma", "delta"] {
            let port = try LlamaServerProbe.freePort()
            ports[instance] = port
            try project.writeConfig(
                instance,
                #"{"name": "\#(instance)", "model": {"path": "../../models/alpha.gguf", "context_size": 4096}, "#
                    + #""server": {"port": \#(port), "parallel": 2}, "gpu": {"backend": "static"}}"#)
        }
        self.ports = ports
        try project.write(
            "devices.json",
            #"{"devices": [{"name": "GPU-A", "kind": "discrete", "total_mib": 24576, "free_mib": 12288}, "#
                + #"{"name": "host", "kind": "cpu", "total_mib": 65536, "free_mib": 32768}]}"#)
        store = try StateStore.open(path: project.root + "/state/state.sqlite").store
    }

    /// Starts the stub servers and records runs, events and counters the way the supervisor does.
    func record() throws {
        for (name, bytes) in [("alpha", 6 * Self.gib), ("beta", 3 * Self.gib)] {
            let pid = try startStub(name)
            servers[name] = pid
            let placement = Placement(
                instance: name, mode: .singleGPU,
                shares: [
                    DeviceShare(
                        deviceID: "static:GPU-A", llamaName: "GPU-A", firstBlock: 0, blockCount: 16,
                        holdsOutput: true, bytes: bytes)
                ],
                offloadedBlocks: 16, offloadsOutput: true, blockCount: 16, hostBytes: Self.gib / 2,
                reasons: ["GPU-A holds it all"])
            let run = try store.recordRunStart(
                RunInfo(
                    instance: name, runID: UUID().uuidString, pid: pid, processGroup: pid,
                    processStartTime: ProcessLiveness.startTime(of: pid) ?? 0, port: ports[name] ?? 0,
                    argv: [CommandRunner.product("stub-llama-server"), "--port", String(ports[name] ?? 0)],
                    environment: [:], placement: placement, backend: "vulkan",
                    startedAt: Self.now - 600))
            // What the supervisor stores once the server is healthy: the buffers its log reported.
            if name == "alpha", let measured = ServerLogAllocations.parse(Self.bufferLines) {
                try store.recordMeasurement(runID: run.runID, measured)
            }
            try store.setDesiredState(.running, for: name)
            try event(name, "started", "pid \(pid) on port \(run.port)", [:])
            try transition(name, from: .stopped, to: .starting)
            try transition(name, from: .starting, to: .loading)
        }
        try transition("alpha", from: .loading, to: .healthy)
        try event("beta", "probe-failed", "HTTP 503 (1 of 3)", ["failures": "1"])

        // gamma: a run with no end whose process is gone, after three restarts.
        let gone = try Self.spawn("/bin/true", [], log: nil)
        Self.stop(gone)
        _ = try store.recordRunStart(
            RunInfo(
                instance: "gamma", runID: UUID().uuidString, pid: gone,
                processGroup: gone, processStartTime: 1, port: ports["gamma"] ?? 0, argv: ["x"],
                environment: [:], startedAt: Self.now - 30))
        for _ in 0..<3 { try store.incrementRestartCount(for: "gamma") }
        try store.setDesiredState(.running, for: "gamma")
        try transition("gamma", from: .restarting, to: .starting)
    }

    /// What the stub servers' logs start with: a load's buffer lines.
    static let bufferLines = """
        build: 4242 (stub) with cc
        load_tensors: GPU-A model buffer size = 1024.00 MiB
        llama_kv_cache: GPU-A KV buffer size = 512.00 MiB
        llama_context: GPU-A compute buffer size = 256.00 MiB

        """

    private func startStub(_ name: String) throws -> pid_t {
        let folder = project.root + "/logs/" + name
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let log = folder + "/stderr.log"
        try Data(Self.bufferLines.utf8).write(to: URL(fileURLWithPath: log))
        return try Self.spawn(
            CommandRunner.product("stub-llama-server"), ["--port", String(ports[name] ?? 0), "--log-interval", "0.2"],
            log: log)
    }

    /// Starts a program with default signal handling and an empty signal mask (Foundation's `Process` passes on
    /// the test runner's, where SIGTERM may be blocked), its output appended to `log`.
    static func spawn(_ path: String, _ arguments: [String], log: String?) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let log {
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_APPEND | O_CREAT, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing else of the test runner's: a pipe another test reads to its end must not stay open here.
        // (glibc ignores a close action on a descriptor closed meanwhile.)
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for descriptor in open.compactMap({ Int32($0) }) where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signalNumber in [SIGTERM, SIGINT, SIGHUP, SIGPIPE] { sigaddset(&defaults, signalNumber) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw SpawnError(description: "cannot start \(path): error \(result)") }
        return pid
    }

    /// Kills and reaps a process this test started.
    static func stop(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    private func transition(_ name: String, from: InstanceState, to: InstanceState) throws {
        try event(
            name, "state", "\(from.rawValue) → \(to.rawValue): test", ["from": from.rawValue, "to": to.rawValue])
    }

    private func event(_ name: String, _ kind: String, _ message: String, _ details: [String: String]) throws {
        try store.appendEvent(
            InstanceEvent(time: Self.now - 300, instance: name, kind: kind, message: message, details: details))
    }

    /// Stops the servers and removes the folder.
    func remove() {
        for pid in servers.values { Self.stop(pid) }
        project.remove()
    }
}
