import Foundation
import Host
import OrchestratorCore
import StateStore
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A project folder, a state store and the stub server, for tests that run real processes; every supervisor
/// made here is stopped at the end and the test fails if any marked process of it is left.
struct SupervisorHarness {
    let project: TemporaryProject
    let store: StateStore
    /// A unique instance name per harness, so that marker scans see only this test's processes.
    let instance: String

    init(_ name: String) throws {
        project = try TemporaryProject(name)
        store = try StateStore.open(path: project.root + "/state/state.sqlite").store
        instance = "\(name)-\(UUID().uuidString.prefix(6).lowercased())"
    }

    static var stubPath: String { CommandRunner.product("stub-llama-server") }

    /// A TCP port nobody listens on now (the kernel's pick; `LlamaServerProbe.freePort`, which the other suites
    /// use too).
    static func freePort() -> Int {
        (try? LlamaServerProbe.freePort()) ?? 0
    }

    /// The stub's command line on a fresh port.
    func spec(_ arguments: [String] = [], port: Int = SupervisorHarness.freePort()) -> LaunchSpec {
        LaunchSpec(
            argv: [Self.stubPath, "--port", "\(port)", "-m", "models/tiny.gguf"] + arguments,
            environment: ProcessInfo.processInfo.environment, host: "127.0.0.1", port: port,
            placement: nil)
    }

    /// What a previous daemon leaves: a server spawned on the log descriptors `logs` opened (closed here) and its
    /// run recorded (with `logOffsets`, when it was measured from there).
    func spawnRecorded(
        _ spec: LaunchSpec, logs descriptors: (stdout: Int32, stderr: Int32), logOffsets: LogOffsets? = nil
    ) throws -> (server: ServerProcess, run: RunInfo) {
        let runID = UUID().uuidString.lowercased()
        let server = try ServerProcess.spawn(
            spec, instance: instance, runID: runID, stdout: descriptors.stdout, stderr: descriptors.stderr)
        close(descriptors.stdout)
        close(descriptors.stderr)
        let run = try store.recordRunStart(
            RunInfo(
                instance: instance, runID: runID, pid: server.pid, processGroup: server.processGroup,
                processStartTime: server.startTime, port: spec.port, argv: spec.argv, environment: [:],
                placement: spec.placement, startedAt: Date().timeIntervalSince1970, logOffsets: logOffsets))
        return (server, run)
    }

    /// Fast settings for tests: probes every 50 ms, backoff in tenths of a second.
    static func settings(
        interval: Double = 0.05, startInterval: Double? = nil, timeout: Double = 0.5, retries: Int = 2,
        startPeriod: Double = 5,
        initialDelay: Double = 0.1, multiplier: Double = 2, maxDelay: Double = 1, maxRetries: Int = 10,
        resetAfter: Double = 100, stopGrace: Double = 2,
        logRotation: LogRotation = LogRotation(maxBytes: 1 << 20, keep: 2),
        logCheckInterval: Double = 0.5
    ) -> SupervisionSettings {
        SupervisionSettings(
            probeInterval: .seconds(interval), startInterval: startInterval.map { .seconds($0) },
            probeTimeout: .seconds(timeout), retries: retries,
            startPeriod: .seconds(startPeriod),
            backoff: ExponentialBackoff(
                initialDelay: initialDelay, multiplier: multiplier, maxDelay: maxDelay, jitter: 0),
            maxRetries: maxRetries, resetAfter: .seconds(resetAfter), logRotation: logRotation,
            logCheckInterval: .seconds(logCheckInterval), stopGrace: .seconds(stopGrace))
    }

    func supervisor(
        _ spec: LaunchSpec, _ settings: SupervisionSettings, checker: String = "http", policy: String = "on-failure"
    ) throws -> InstanceSupervisor<ContinuousClock> {
        try supervisor(spec, settings, checker: checker, policy: policy, clock: ContinuousClock())
    }

    func supervisor<Clock: _Concurrency.Clock>(
        _ spec: LaunchSpec, _ settings: SupervisionSettings, checker: String = "http", policy: String = "on-failure",
        clock: Clock
    ) throws -> InstanceSupervisor<Clock> where Clock.Duration == Duration {
        InstanceSupervisor(
            instance: instance, spec: spec, settings: settings,
            checker: try Registry<any HealthChecker>.standardHealthCheckers.lookup(checker),
            policy: try Registry<any RestartPolicy>.standardRestartPolicies.lookup(policy), root: project.root,
            store: store, clock: clock)
    }

    /// Runs `body`, then stops the supervisor, however `body` ended, and checks that nothing is left.
    func with<Clock, T>(
        _ supervisor: InstanceSupervisor<Clock>, _ body: (InstanceSupervisor<Clock>) async throws -> T
    ) async throws -> T {
        let result: Result<T, any Error>
        do {
            result = .success(try await body(supervisor))
        } catch {
            result = .failure(error)
        }
        await supervisor.stop()
        let final = await supervisor.state
        #expect(final == .stopped || final == .failed)
        #expect(leftovers().isEmpty, "processes left behind: \(leftovers())")
        project.remove()
        return try result.get()
    }

    /// Live processes carrying this harness's instance marker.
    func leftovers() -> [MarkedProcess] {
        ProcessIdentity.markedProcesses().filter { $0.instance == instance }
    }

    /// Waits until the supervisor is in `state` (optionally with a pid other than `notPID`).
    @discardableResult
    static func wait<Clock>(
        for state: InstanceState, _ supervisor: InstanceSupervisor<Clock>, notPID: Int32? = nil,
        within limit: Duration = .seconds(10)
    ) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            if await supervisor.state == state {
                let pid = await supervisor.currentRun?.pid
                if notPID == nil || (pid != nil && pid != notPID) { return true }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Waits until `condition` holds, polling every 10 ms; returns whether it did within `limit`.
    static func eventually(
        within limit: Duration = .seconds(5), _ condition: () async throws -> Bool
    ) async rethrows
        -> Bool
    {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Runs oldest first.
    func runs() throws -> [RunInfo] {
        try store.runs(of: instance, limit: 100).reversed()
    }

    func events(_ kind: String? = nil) throws -> [InstanceEvent] {
        try store.events(of: instance, limit: 1000).filter { kind == nil || $0.kind == kind }
    }
}

extension InstanceSupervisor {
    /// The pid of the running server.
    var pid: Int32? { currentRun?.pid }
}

/// Whether a process exists and is not a zombie.
func isAlive(_ pid: Int32) -> Bool {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return false }
    let state = text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).first
    return state != "Z" && state != "X"
}

/// Living processes of a process group, from /proc.
func livingMembers(ofGroup group: Int32) -> [Int32] {
    let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
    return pids.filter { pid in
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return false }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 2 && Int32(fields[2]) == group && fields[0] != "Z"
    }
}
