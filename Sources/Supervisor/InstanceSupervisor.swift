import Foundation
import Host
import Logging
import OrchestratorCore
import StateStore

/// Runs one instance: starts its server, probes it, and restarts it under its policy with backoff, until told
/// to stop or given up on.
///
/// Never two servers at once: a new server starts only after every process of the previous one's group is
/// gone. Every state change goes to `transitions`, to the optional callback and, as a `state` event, to the
/// state store, together with the run records the daemon re-adopts from and these events: `started`,
/// `exited`, `probe-failed` (a failure that counted), `backoff-reset`, `launch-failed`, `adopted`. Waiting (probe intervals, backoff) runs on the injected clock; waiting for processes to exit
/// runs in real time.
public actor InstanceSupervisor<C: Clock> where C.Duration == Duration {
    /// The instance's name (marker `LLAMA_ORCH_INSTANCE`, `logs/<name>/`, state store rows).
    public nonisolated let instance: String
    /// Every state change, in order; finishes when the supervisor is released.
    public nonisolated let transitions: AsyncStream<InstanceTransition>
    private let continuation: AsyncStream<InstanceTransition>.Continuation
    private let onTransition: (@Sendable (InstanceTransition) -> Void)?

    /// The command line the next start uses.
    public private(set) var spec: LaunchSpec
    /// The settings it supervises by.
    public let settings: SupervisionSettings
    /// The state the instance is in now.
    public private(set) var state: InstanceState = .stopped
    /// The current server's run record, while one exists.
    public private(set) var currentRun: RunInfo?

    private let checker: any HealthChecker
    private var restarts: RestartTracker<C>
    private let logs: InstanceLogs
    private let store: StateStore?
    private let clock: C
    private let logger: Logger
    private var server: ServerProcess?
    private var loop: Task<Void, Never>?
    private var stopRequested = false
    /// Why the requested stop happened, as the `stopped` transition says it.
    private var stopReason = "stopped by the user"
    /// Set when a server did not exit after SIGKILL: supervision ends with `failed`.
    private var stuckPID: Int32?
    private var detachRequested = false
    /// Counts `start`s, so that a loop that ends clears only its own handle.
    private var generation = 0
    /// Tasks waiting in `waitForState`, by id: the states each waits for.
    private var stateWaiters: [UInt64: (states: Set<InstanceState>, continuation: CheckedContinuation<Void, Never>)] =
        [:]
    private var lastStateWaiter: UInt64 = 0
    /// The run whose allocation is still to be read from its logs once it is healthy (from its `logOffsets`, so
    /// an earlier run's lines never count).
    private var unmeasuredRunID: String?

    /// - Parameters:
    ///   - instance: the instance's name.
    ///   - spec: the server's command line, environment and port.
    ///   - settings: probing, restart, log and stop settings.
    ///   - checker: the health checker the config names.
    ///   - policy: the restart policy the config names.
    ///   - root: the project root; logs go to `root/logs/<instance>/`.
    ///   - store: where runs and events are recorded (`nil`: nowhere, for tests of the logic).
    ///   - clock: the clock probe intervals and backoff delays run on.
    ///   - jitterSample: the backoff's random source, uniform in `0..<1`.
    ///   - onTransition: called with every state change, besides `transitions`.
    public init(
        instance: String, spec: LaunchSpec, settings: SupervisionSettings, checker: any HealthChecker,
        policy: any RestartPolicy, root: String, store: StateStore?, clock: C,
        logger: Logger = Logger(label: "llama-orch.supervisor"),
        jitterSample: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        onTransition: (@Sendable (InstanceTransition) -> Void)? = nil
    ) {
        self.instance = instance
        self.spec = spec
        self.settings = settings
        self.checker = checker
        self.restarts = RestartTracker(
            policy: policy, backoff: settings.backoff, maxRetries: settings.maxRetries,
            resetAfter: settings.resetAfter, sample: jitterSample)
        self.logs = InstanceLogs(root: root, instance: instance)
        self.store = store
        self.clock = clock
        var logger = logger
        logger[metadataKey: "instance"] = "\(instance)"
        self.logger = logger
        self.onTransition = onTransition
        (transitions, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
    }

    deinit {
        continuation.finish()
    }

    // MARK: Commands

    /// Starts the server and supervises it (`up`); the restart count starts over, so a failed instance gets a
    /// fresh set of retries.
    ///
    /// Returns once the first server is started (not yet healthy: follow `transitions`).
    /// - Throws: `SupervisorError.portInUse` naming the holder, `.spawnFailed`, `.logFile`, `.stateStore`;
    ///   the instance is then `failed`. `.alreadyRunning` when a server is already supervised.
    public func start() async throws(SupervisorError) {
        guard loop == nil else { throw .alreadyRunning(instance: instance) }
        stopRequested = false
        stuckPID = nil
        restarts.reset()
        do {
            try store?.resetRestartCount(for: instance)
        } catch {
            logger.warning("cannot reset the restart count: \(error)")
        }
        transition(to: .starting, "start requested")
        // The loop exists before the first await, so a concurrent `start` is refused and a concurrent `stop`
        // waits for the launch and takes the new server down.
        let launched = Task { () -> Result<ServerProcess, SupervisorError> in
            do throws(SupervisorError) {
                return .success(try await self.launch())
            } catch {
                return .failure(error)
            }
        }
        let loop = startLoop {
            guard case .success(let first) = await launched.value else { return }
            await self.supervise(first)
        }
        if case .failure(let error) = await launched.value {
            await loop.value
            transition(to: .failed, error.description)
            throw error
        }
    }

    /// Runs `body` as the supervision loop; the handle is cleared when it ends, unless a newer loop replaced it.
    @discardableResult
    private func startLoop(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        generation += 1
        let current = generation
        let task = Task {
            await body()
            self.loopEnded(current)
        }
        loop = task
        return task
    }

    /// Takes over a server that a previous daemon started and recorded (re-adoption after a daemon restart),
    /// and supervises it as if this supervisor had started it: probes, restarts, stop.
    ///
    /// - Throws: `SupervisorError.notOurs` when the recorded process is no longer that server (it is never
    ///   signalled); `.alreadyRunning` when a server is already supervised.
    public func adopt(_ run: RunInfo) async throws(SupervisorError) {
        guard loop == nil else { throw .alreadyRunning(instance: instance) }
        let adopted = try ServerProcess.adopt(run)
        stopRequested = false
        restarts.reset(to: (try? store?.restartCount(for: instance)) ?? 0)
        server = adopted
        currentRun = run
        // Re-adopted before it was measured (the previous daemon stopped while it loaded): measured here.
        unmeasuredRunID = run.measured == nil && run.logOffsets != nil ? run.runID : nil
        transition(to: .starting, "re-adopted pid \(run.pid) of run \(run.runID)")
        record("adopted", "pid \(run.pid) on port \(run.port)", details: ["pid": "\(run.pid)", "run_id": run.runID])
        startLoop { await self.supervise(adopted) }
    }

    /// Stops the server (`down`): SIGTERM to its group, SIGCONT, the grace period, SIGKILL; returns when no
    /// process of the group is left and the instance is `stopped`, with `reason` as the transition's. Cancels a
    /// pending restart.
    public func stop(reason: String = "stopped by the user") async {
        stopRequested = true
        stopReason = reason
        guard let loop else {
            if state != .stopped { transition(to: .stopped, reason) }
            return
        }
        // The loop takes the server down (see `watch`) and ends in `stopped`.
        loop.cancel()
        await loop.value
    }

    /// Stops supervising but leaves the server running (the daemon shuts down or is upgraded: servers outlive
    /// it, and the next daemon re-adopts them from their run records). A pending restart is dropped.
    public func detach() async {
        guard let loop else { return }
        detachRequested = true
        loop.cancel()
        await loop.value
        detachRequested = false
    }

    private func loopEnded(_ ended: Int) {
        if ended == generation { loop = nil }
    }

    /// Stops the server if it runs and starts it again with a fresh restart count (`restart`).
    public func restart() async throws(SupervisorError) {
        await stop()
        try await start()
    }

    /// Replaces the command line the next start uses (the scheduler placed the instance again).
    public func update(spec: LaunchSpec) {
        self.spec = spec
    }

    /// Returns as soon as the instance is in one of `states` (at once if it is now), or when the calling task is
    /// cancelled.
    public func waitForState(_ states: Set<InstanceState>) async {
        guard !states.contains(state) else { return }
        lastStateWaiter += 1
        let id = lastStateWaiter
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if Task.isCancelled {
                    continuation.resume()
                } else {
                    stateWaiters[id] = (states, continuation)
                }
            }
        } onCancel: {
            Task { await self.releaseStateWaiter(id) }
        }
    }

    private func releaseStateWaiter(_ id: UInt64) {
        stateWaiters.removeValue(forKey: id)?.continuation.resume()
    }

    /// Waits until supervision ends by itself (the instance stopped or failed) or is stopped.
    public func waitUntilDone() async {
        await loop?.value
    }

    // MARK: Supervision

    /// The loop behind one `start`: watch the server, then ask the policy, back off, start again.
    private func supervise(_ first: ServerProcess) async {
        var next: Result<ServerProcess, SupervisorError> = .success(first)
        while true {
            let ending: RunEnding
            switch next {
            case .success(let server):
                guard let watched = await watch(server) else {
                    record("detached", "supervision ended; pid \(server.pid) keeps running")
                    return
                }
                ending = watched
                if let stuck = stuckPID {
                    // Nothing more can be done from here, and another server must not start beside it.
                    transition(
                        to: .failed,
                        "pid \(stuck) did not exit after SIGKILL (stuck in the kernel: a GPU driver fault, a hung "
                            + "mount?); it may still hold its port and memory. Once 'ps -p \(stuck)' no longer lists "
                            + "it, 'llama-orch up \(instance)' starts the instance again")
                    return
                }
            case .failure(let error):
                ending = .launchFailed(reason: error.description)
            }
            if stopRequested {
                transition(to: .stopped, stopReason)
                return
            }
            switch restarts.runEnded(ending, at: clock.now) {
            case .stop(let reason):
                transition(to: .stopped, reason)
                return
            case .fail(let reason):
                transition(to: .failed, reason)
                return
            case .restart(let delay, let attempt):
                let instance = instance
                write("count the restart") { _ = try self.store?.incrementRestartCount(for: instance) }
                transition(to: .restarting, "\(ending); restart \(attempt) in \(Self.seconds(delay))")
                do {
                    try await clock.sleep(for: delay)
                } catch {
                    // Cancelled: only `stop` cancels.
                }
                if detachRequested {
                    record("detached", "supervision ended before restart \(attempt)")
                    return
                }
                if stopRequested || Task.isCancelled {
                    transition(to: .stopped, stopReason)
                    return
                }
                transition(to: .starting, "restart \(attempt)")
                do {
                    next = .success(try await launch())
                } catch {
                    record("launch-failed", error.description)
                    next = .failure(error)
                }
            }
        }
    }

    /// What ends a watch: the server's exit, a verdict of the probes, or the end of a helper loop.
    private enum WatchEvent: Sendable {
        case exited(ExitStatus)
        case unhealthy(String)
        case done
    }

    /// Probes and watches one server until it has exited and its group is gone; returns how it ended, or `nil`
    /// when supervision was detached and the server left running.
    private func watch(_ server: ServerProcess) async -> RunEnding? {
        var verdict: String?
        var exit: ExitStatus?
        let rotation = LogRotator.shared.watch(
            logs, rotation: settings.logRotation, every: settings.logCheckInterval
        ) { [logger] path, reason in
            logger.warning("log rotation failed, \(path) keeps growing until one works: \(reason)")
        }
        await withTaskGroup(of: WatchEvent.self) { group in
            group.addTask { await server.waitForExitUnlessCancelled().map(WatchEvent.exited) ?? .done }
            group.addTask { await self.probe(server) }
            // The one place that signals the server: SIGTERM goes once, whether the probes or `stop` ask.
            var terminating = false
            for await event in group {
                switch event {
                case .exited(let status):
                    exit = status
                    group.cancelAll()
                case .unhealthy(let reason):
                    verdict = reason
                    if !terminating {
                        terminating = true
                        await ProcessGroupTerminator.stop(group: server.processGroup, grace: settings.stopGrace)
                    }
                case .done:
                    if Task.isCancelled && !detachRequested && !terminating && server.exitStatus == nil {
                        terminating = true
                        await ProcessGroupTerminator.stop(group: server.processGroup, grace: settings.stopGrace)
                    }
                }
            }
        }
        LogRotator.shared.unwatch(rotation)
        if exit == nil && detachRequested && server.exitStatus == nil {
            self.server = nil
            currentRun = nil
            return nil
        }
        // Cancelled by `stop`: the group was taken down above, so the exit is at hand, unless the server is
        // stuck in the kernel, where SIGKILL can't reach it (the terminator gave up after its kill wait).
        let status: ExitStatus
        if let exit {
            status = exit
        } else if let exited = await server.waitForExit(within: Self.stuckExitWait) {
            status = exited
        } else {
            stuckPID = server.pid
            self.server = nil
            record(
                "stuck", "pid \(server.pid) did not exit after SIGKILL; its run stays open",
                details: ["pid": "\(server.pid)"])
            return .signaled(SIGKILL)
        }
        // Whatever the server left in its group (a forked helper) goes too, before anything starts again.
        await ProcessGroupTerminator.killNow(group: server.processGroup)
        self.server = nil
        let ending: RunEnding =
            verdict.map { .unhealthy(reason: $0) } ?? (stopRequested ? .stoppedByUser : status.ending)
        if let run = currentRun {
            let endedAt = Date().timeIntervalSince1970
            write("record the end of run \(run.runID)") {
                try self.store?.recordRunEnd(
                    id: run.id, at: endedAt,
                    exitStatus: { if case .exited(let code) = status { code } else { nil } }(),
                    exitSignal: { if case .signaled(let signal) = status { signal } else { nil } }())
            }
        }
        record("exited", "pid \(server.pid) \(status)", details: ["pid": "\(server.pid)", "status": "\(status)"])
        currentRun = nil
        return ending
    }

    /// How long a server may take to exit once its group was stopped (SIGKILL and the terminator's own wait are
    /// behind it); past that it is stuck.
    static var stuckExitWait: Duration { .seconds(5) }

    /// The probe loop of one server: returns `.unhealthy` when the probes say so, `.done` when cancelled.
    private func probe(_ server: ServerProcess) async -> WatchEvent {
        var tracker = HealthProbeTracker(retries: settings.retries, startPeriod: settings.startPeriod)
        let launchedAt = clock.now
        var portConfirmed = false
        // A re-adopted server listens where its run says, whatever the spec says now.
        let port = currentRun?.port ?? spec.port
        let target = HealthCheckTarget(
            host: spec.host, port: port, pid: server.pid, path: settings.probePath, timeout: settings.probeTimeout)
        // Probes start `probeInterval` apart (a slow probe does not push the next one back), as Kubernetes'
        // `periodSeconds`; one that overran its slot is followed by a full interval. Until the first pass, within
        // the start period, they come every `startInterval`.
        let startInterval = settings.startInterval ?? settings.probeInterval
        let startPeriodEnds = launchedAt.advanced(by: settings.startPeriod)
        var passed = false
        var next = launchedAt.advanced(by: startInterval)
        while true {
            do {
                try await clock.sleep(until: next, tolerance: nil)
            } catch {
                return .done
            }
            var result = await checker.check(target)
            if Task.isCancelled || server.exitStatus != nil { return .done }
            let now = clock.now
            if result == .healthy { passed = true }
            let period = !passed && now < startPeriodEnds ? startInterval : settings.probeInterval
            next = next.advanced(by: period)
            if next < now { next = now.advanced(by: period) }
            if !portConfirmed && result.answered {
                // The first answer of a run (loading or healthy): make sure our server gave it, not an orphan or
                // a stranger holding the port (the server itself then failed to bind and is about to exit). Done
                // while the model loads, so it costs nothing when the server turns ready.
                if let stranger = PortInspector.stranger(on: port, notIn: server.processGroup) {
                    result = .failed("port \(port) is answered by \(stranger), not by this instance's server")
                } else {
                    portConfirmed = true
                }
            }
            let counted = tracker.consecutiveFailures
            let verdict = tracker.record(result, sinceLaunch: launchedAt.duration(to: now))
            if tracker.consecutiveFailures > counted {
                record(
                    "probe-failed", "\(result) (\(tracker.consecutiveFailures) of \(tracker.retries))",
                    details: ["failures": "\(tracker.consecutiveFailures)"])
            }
            switch verdict {
            case .healthy:
                measureAllocation()
                restarts.runIsHealthy(at: clock.now)
                if restarts.resetIfStable(at: clock.now) {
                    do {
                        try store?.resetRestartCount(for: instance)
                    } catch {
                        logger.warning("cannot reset the restart count: \(error)")
                    }
                    record("backoff-reset", "stable for \(Self.seconds(settings.resetAfter)); restart count reset")
                }
                transition(to: .healthy, "probe passed")
            case .unhealthy:
                restarts.runIsUnhealthy()
                let reason =
                    "\(tracker.retries) probe\(tracker.retries == 1 ? "" : "s") failed in a row, last: \(result)"
                transition(to: .unhealthy, reason)
                return .unhealthy(reason)
            default:
                transition(to: verdict, "\(result)")
            }
        }
    }

    /// Checks the port, opens the logs, starts the server and records the run.
    private func launch() async throws(SupervisorError) -> ServerProcess {
        precondition(server == nil, "a server of \(instance) is still running")
        try PortInspector.ensureFree(host: spec.host, port: spec.port)
        if logs.needsRotation(settings.logRotation) {
            let (logs, rotation, logger) = (logs, settings.logRotation, logger)
            await Self.offThread {
                for case (let path, .failed(let reason)) in logs.rotateIfNeeded(rotation) {
                    logger.warning("log rotation failed, \(path) keeps growing until one works: \(reason)")
                }
            }
        }
        let descriptors = try logs.openForServer()
        defer {
            close(descriptors.stdout)
            close(descriptors.stderr)
        }
        let runID = UUID().uuidString.lowercased()
        let logOffsets = LogOffsets(
            stdout: FileIdentity(descriptor: descriptors.stdout)?.size ?? 0,
            stderr: FileIdentity(descriptor: descriptors.stderr)?.size ?? 0)
        let server = try ServerProcess.spawn(
            spec, instance: instance, runID: runID, stdout: descriptors.stdout, stderr: descriptors.stderr)
        var environment = spec.environment
        environment[ProcessMarker.instance] = instance
        environment[ProcessMarker.run] = runID
        var run = RunInfo(
            instance: instance, runID: runID, pid: server.pid, processGroup: server.processGroup,
            processStartTime: server.startTime, port: spec.port, argv: spec.argv, environment: environment,
            placement: spec.placement, backend: spec.backend, startedAt: Date().timeIntervalSince1970,
            fingerprint: spec.fingerprint, logOffsets: logOffsets)
        if let store {
            do {
                run = try store.recordRunStart(run)
            } catch {
                // An unrecorded server could never be re-adopted: take it down rather than run it blind.
                await ProcessGroupTerminator.killNow(group: server.processGroup)
                _ = await server.waitForExit()
                throw .stateStore(StateStoreFailure(error.description))
            }
        }
        self.server = server
        currentRun = run
        unmeasuredRunID = runID
        record(
            "started", "pid \(server.pid) on port \(spec.port)",
            details: ["pid": "\(server.pid)", "run_id": runID, "port": "\(spec.port)"])
        return server
    }

    // MARK: Measured allocation

    /// Reads what the current run's server reported allocating (once per run, when it first turns healthy),
    /// records it with the run, and records an event when it exceeds the placement's estimate on a device.
    private func measureAllocation() {
        guard var run = currentRun, run.runID == unmeasuredRunID, let start = run.logOffsets else { return }
        unmeasuredRunID = nil
        let measured =
            Self.logText(logs.stderrPath, from: start.stderr).flatMap(ServerLogAllocations.parse)
            ?? Self.logText(logs.stdoutPath, from: start.stdout).flatMap(ServerLogAllocations.parse)
        guard let measured else {
            record(
                "not-measured",
                "no complete set of buffer sizes in this run's log lines (newer llama-server builds print them "
                    + "only with -lv 4; a log rotated while the server loaded loses them); placements count its estimate"
            )
            return
        }
        run.measured = measured
        currentRun = run
        write("record the measured allocation") { try store?.recordMeasurement(runID: run.runID, measured) }
        guard let placement = run.placement else {
            record("measured", "\(AllocationCheck.mib(measured.totalBytes)) in all (no placement to compare)")
            return
        }
        let rows = AllocationCheck.compare(placement, measured)
        record(
            "measured",
            rows.map {
                "\($0.device) \(AllocationCheck.mib($0.measured)) (estimate \(AllocationCheck.mib($0.estimated)))"
            }
            .joined(separator: ", "))
        for excess in AllocationCheck.excesses(placement, measured) {
            let message = AllocationCheck.describe(excess)
            logger.warning("\(message)")
            record(
                "estimate-exceeded", message,
                details: [
                    "device": excess.device, "estimated_bytes": "\(excess.estimated)",
                    "measured_bytes": "\(excess.measured)",
                ])
        }
    }

    /// The text of a log from byte `offset` (at most 8 MiB of it); `nil` when the file is shorter than that
    /// (it was rotated or truncated since: the run's lines are not all there) or can't be read.
    static func logText(_ path: String, from offset: Int, limit: Int = 8 << 20) -> Substring? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), size >= UInt64(offset),
            (try? handle.seek(toOffset: UInt64(offset))) != nil,
            let data = try? handle.read(upToCount: limit)
        else { return nil }
        return String(decoding: data, as: UTF8.self)[...]
    }

    // MARK: Events

    private func transition(to new: InstanceState, _ reason: String) {
        guard new != state else { return }
        let change = InstanceTransition(
            instance: instance, from: state, to: new, reason: reason, time: Date().timeIntervalSince1970)
        state = new
        logger.info("\(change.from.rawValue) → \(new.rawValue): \(reason)")
        record(
            "state", "\(change.from.rawValue) → \(new.rawValue): \(reason)",
            details: ["from": change.from.rawValue, "to": new.rawValue])
        continuation.yield(change)
        onTransition?(change)
        for (id, waiter) in stateWaiters where waiter.states.contains(new) {
            stateWaiters.removeValue(forKey: id)
            waiter.continuation.resume()
        }
    }

    private func record(_ kind: String, _ message: String, details: [String: String] = [:]) {
        guard let store else { return }
        let event = InstanceEvent(
            time: Date().timeIntervalSince1970, instance: instance, kind: kind, message: message,
            details: details)
        write("record event \(kind)") { _ = try store.appendEvent(event) }
    }

    /// Runs a store write; a failure is logged, not thrown: supervision goes on without the record.
    private func write(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            logger.warning("cannot \(what): \(error)")
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.3g s", value)
    }

    private static func offThread(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                body()
                continuation.resume()
            }
        }
    }
}
