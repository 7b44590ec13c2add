import ControlAPI
import Drivers
import Foundation
import Logging
import OrchestratorCore
import Scheduler
import StateStore
import Supervisor

/// The daemon's instances: one `InstanceSupervisor` each, placement before every start, starts queued one at a
/// time per device, re-adoption of the servers a previous daemon left running. It answers the control API.
///
/// Operations on one instance never interleave (a lock per instance); placement rounds never overlap (one
/// lock), and memory placed for an instance that waits in a start queue counts as held.
public actor InstanceManager: ControlHandler {
    /// One instance the daemon knows.
    struct Entry {
        var supervisor: InstanceSupervisor<CoalescingClock>
        var config: InstanceConfig?
        /// The driver that placed it.
        var backend: String?
        /// Placed and queued, not yet started: its memory counts as held.
        var pendingPlacement: Placement?
    }

    public nonisolated let root: ProjectRoot
    let store: StateStore
    let environment: [String: String]
    let checkers: Registry<any HealthChecker>
    let policies: Registry<any RestartPolicy>
    let logger: Logger
    let startedAt = Date().timeIntervalSince1970
    /// How long a server gets between SIGTERM and SIGKILL.
    let stopGrace: Duration
    private(set) var warnings: [String] = []
    private var entries: [String: Entry] = [:]
    /// `placementSummary` by run id.
    private var placementSummaries: [String: (backend: String?, devices: String?)] = [:]
    /// Built once: the driver registry does not change while the daemon runs.
    private let knownNames = KnownNames(backends: DriverCatalog.registry().names)
    private var instanceLocks: [String: AsyncLock] = [:]
    private var queues: [String: BootQueue] = [:]
    /// How many times each instance was asked to stop: an `up` that notes it before placing (which takes a
    /// while, without the instance's lock) starts nothing if a `down` came in between.
    private var stopRequests: [String: Int] = [:]
    private let placementLock = AsyncLock()
    private let lastTransitions = LockedBox<[String: InstanceTransition]>([:])
    /// Set once the daemon shuts down: queued starts are dropped.
    private var shuttingDown = false
    private let onActivity: @Sendable () -> Void
    /// Called by `stopDaemon` once the instances are dealt with: shuts the service group down.
    private var shutdown: (@Sendable () async -> Void)?

    /// - Parameters:
    ///   - environment: the daemon's environment: drivers and the binary search read it, servers inherit it.
    ///   - stopGrace: SIGTERM to SIGKILL for every server.
    ///   - onActivity: called at every state change of an instance (the daemon's `IdleTrim` waits for quiet).
    public init(
        root: ProjectRoot, store: StateStore, environment: [String: String],
        checkers: Registry<any HealthChecker> = .standardHealthCheckers,
        policies: Registry<any RestartPolicy> = .standardRestartPolicies, stopGrace: Duration = .seconds(30),
        logger: Logger = Logger(label: "llama-orch.daemon"), warnings: [String] = [],
        onActivity: @escaping @Sendable () -> Void = {}
    ) {
        self.onActivity = onActivity
        self.root = root
        self.store = store
        var environment = environment
        environment.removeValue(forKey: LaunchSpec.instanceMarker)
        environment.removeValue(forKey: LaunchSpec.runMarker)
        self.environment = environment
        self.checkers = checkers
        self.policies = policies
        self.stopGrace = stopGrace
        self.logger = logger
        self.warnings = warnings
    }

    /// Sets what `stopDaemon` calls last.
    public func onShutdown(_ body: @escaping @Sendable () async -> Void) {
        shutdown = body
    }

    // MARK: Configs

    private var validator: ConfigValidator {
        ConfigValidator(knownNames: knownNames)
    }

    /// The instance folders under `instances/`.
    private func configuredNames() -> [String] {
        ConfigValidator.instanceNames(in: root)
    }

    private func lock(for name: String) -> AsyncLock {
        if let lock = instanceLocks[name] { return lock }
        let lock = AsyncLock()
        instanceLocks[name] = lock
        return lock
    }

    // MARK: Boot

    /// Re-adopts the servers a previous daemon left running, closes the runs whose process is gone, and
    /// reports marked processes of this root that no run records. Restarts nothing.
    public func recover() async {
        let open: [RunInfo]
        do {
            open = try store.openRuns()
        } catch {
            warn("cannot read the open runs: \(error)")
            return
        }
        for run in open.reversed() {
            let alreadyAdopted = entries[run.instance] != nil
            if !alreadyAdopted && ProcessIdentity.matches(run: run) {
                let config = try? validator.validate(instance: run.instance, in: root).get()
                var environment = run.environment
                environment.removeValue(forKey: LaunchSpec.instanceMarker)
                environment.removeValue(forKey: LaunchSpec.runMarker)
                let spec = LaunchSpec(
                    argv: run.argv, environment: environment, host: config?.server.host ?? "127.0.0.1", port: run.port,
                    placementJSON: run.placementJSON, workingDirectory: root.path)
                do {
                    let supervisor = try makeSupervisor(run.instance, config: config, spec: spec)
                    try await supervisor.adopt(run)
                    entries[run.instance] = Entry(
                        supervisor: supervisor, config: config, backend: Self.backend(ofPlacement: run.placementJSON))
                    logger.info("re-adopted \(run.instance): pid \(run.pid), run \(run.runID)")
                    continue
                } catch {
                    warn("\(run.instance): cannot re-adopt pid \(run.pid): \(error)")
                }
            }
            do {
                try store.recordRunEnd(id: run.id, at: Date().timeIntervalSince1970, exitStatus: nil, exitSignal: nil)
                record(
                    run.instance, "run-closed",
                    "run \(run.runID) (pid \(run.pid)) ended while no daemon watched it; closed")
            } catch {
                warn("cannot close run \(run.runID): \(error)")
            }
        }
        for process in unrecordedProcesses() {
            let message =
                "pid \(process.pid) (group \(process.processGroup)) carries instance \(process.instance)'s marker but no run records it; 'llama-orch down --all' stops it"
            warn(message)
            record(process.instance, "unrecorded", message)
        }
    }

    /// Marked processes started in this root (their working folder) that no open run records.
    private func unrecordedProcesses() -> [MarkedProcess] {
        let known = (try? store.openRuns()) ?? []
        // /proc shows the working folder with symbolic links resolved.
        let folder = URL(fileURLWithPath: root.path).resolvingSymlinksInPath().path
        return ProcessIdentity.unrecorded(knownRuns: known).filter { process in
            let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/cwd")
            return cwd == root.path || cwd == folder
        }
    }

    /// Starts what should run with the daemon: configs with `"autostart": true`, and instances whose desired
    /// state is `running` when their restart policy says so; one at a time per device.
    public func autostart() async {
        let desired = (try? store.desiredStates()) ?? [:]
        var names: [String] = []
        for name in configuredNames() {
            guard let config = try? validator.validate(instance: name, in: root).get() else { continue }
            let wanted = desired[name] ?? .stopped
            let startsWithDaemon =
                (try? policies.lookup(config.restartPolicy.type))?.startsWithDaemon(
                    desiredState: wanted) ?? false
            if config.autostart || startsWithDaemon { names.append(name) }
        }
        guard !names.isEmpty else { return }
        logger.info("autostart: \(names.joined(separator: ", "))")
        do {
            let response = try await up(InstancesRequest(names: names))
            for outcome in response.outcomes where outcome.result == .failed {
                warn("autostart \(outcome.name): \(outcome.message)")
            }
        } catch {
            warn("autostart: \(error)")
        }
    }

    // MARK: ControlHandler

    public func daemonInfo() async -> DaemonInfo {
        var supervised = 0
        for entry in entries.values where await entry.supervisor.state != .stopped { supervised += 1 }
        let pid = getpid()
        var warnings = warnings
        if let path = DaemonExecutable.replacedPath(of: pid) {
            warnings.append(DaemonExecutable.replacedWarning(pid: pid, path: path))
        }
        return DaemonInfo(
            pid: pid, root: root.path, startedAt: startedAt, version: DaemonVersion.string, supervised: supervised,
            warnings: warnings)
    }

    /// Without `all`, the supervised instances only: their configs are the ones they run with, so `ps` reads no
    /// config file and asks the store twice whatever the count.
    public func instances(all: Bool) async -> [InstanceStatus] {
        let names = (all ? Set(configuredNames()).union(entries.keys) : Set(entries.keys)).sorted()
        let desired = (try? store.desiredStates()) ?? [:]
        let restarts = (try? store.restartCounts()) ?? [:]
        var list: [InstanceStatus] = []
        for name in names {
            let status = await status(of: name, desired: desired[name] ?? .stopped, restarts: restarts[name] ?? 0)
            if all || (status.state != InstanceState.stopped.rawValue && status.state != "invalid") {
                list.append(status)
            }
        }
        return list
    }

    public func instance(named name: String) async throws -> InstanceStatus {
        guard entries[name] != nil || configuredNames().contains(name) else { throw DaemonError.noSuchInstance(name) }
        return await status(
            of: name, desired: ((try? store.desiredStates()) ?? [:])[name] ?? .stopped,
            restarts: (try? store.restartCount(for: name)) ?? 0)
    }

    /// The status of one instance, from its supervisor and run (a supervised one) or its config file.
    private func status(of name: String, desired: DesiredState, restarts: Int) async -> InstanceStatus {
        let entry = entries[name]
        let last = lastTransitions.withValue { $0[name] }
        guard let entry else {
            let report = validator.validate(instance: name, in: root)
            let config = report.config
            let state =
                report.isValid || !FileManager.default.fileExists(atPath: root.configFile(name)) ? "stopped" : "invalid"
            return InstanceStatus(
                name: name, state: state, desiredState: desired.rawValue, health: "-", port: config?.server.port,
                backend: config?.gpu.backend, model: config?.model.path, restarts: restarts,
                reason: report.isValid ? last?.reason : report.errors.first?.description, since: last?.time)
        }
        let state = await entry.supervisor.state
        let run = await entry.supervisor.currentRun
        // A running instance shows the config it runs with; a stopped one what its file says now.
        let config: InstanceConfig? =
            state == .stopped ? validator.validate(instance: name, in: root).config ?? entry.config : entry.config
        if entry.pendingPlacement != nil {
            return InstanceStatus(
                name: name, state: "queued", desiredState: desired.rawValue, health: "starting",
                port: config?.server.port, backend: entry.backend, model: config?.model.path, restarts: restarts,
                reason: "placed; waits for the instance before it on the same device", since: last?.time)
        }
        let health: String =
            switch state {
            case .healthy: "healthy"
            case .unhealthy: "unhealthy"
            case .starting, .loading, .restarting: "starting"
            case .stopped, .failed: "-"
            }
        let placed = run.map { placementSummary($0) }
        return InstanceStatus(
            name: name, state: state.rawValue, desiredState: desired.rawValue, health: health, pid: run?.pid,
            port: run?.port ?? config?.server.port, backend: placed?.backend ?? entry.backend,
            devices: placed?.devices, model: config?.model.path,
            startedAt: run?.startedAt, restarts: restarts, reason: last?.reason, since: last?.time)
    }

    public func up(_ request: InstancesRequest) async throws -> InstancesResponse {
        let names = try resolve(request, forUp: true)
        var outcomes: [String: InstanceOutcome] = [:]
        var launches: [(String, Promise<InstanceOutcome>)] = []
        await placementLock.withLock {
            var toPlace: [InstanceConfig] = []
            var stopsSeen: [String: Int] = [:]
            for name in names {
                let report = validator.validate(instance: name, in: root)
                guard let config = report.config, report.isValid else {
                    outcomes[name] = InstanceOutcome(
                        name: name, result: .failed,
                        message: ConfigError(file: report.file, issues: report.issues).description,
                        exitCode: OrchestratorExitCode.configInvalid.rawValue)
                    continue
                }
                // An instance that runs (or waits in a start queue) stays as it is; the check and the desired state
                // are one step under the instance's lock, so a `down` is either before or after both.
                let unchanged = await lock(for: name).withLock { () -> InstanceOutcome? in
                    stopsSeen[name] = stopRequests[name, default: 0]
                    guard let entry = entries[name] else { return nil }
                    let state = await entry.supervisor.state
                    guard entry.pendingPlacement != nil || (state != .stopped && state != .failed) else { return nil }
                    do {
                        try store.setDesiredState(.running, for: name)
                    } catch {
                        return failure(name, error)
                    }
                    return InstanceOutcome(
                        name: name, result: .unchanged,
                        message: "already \(entry.pendingPlacement != nil ? "queued" : state.rawValue)")
                }
                if let unchanged {
                    outcomes[name] = unchanged
                    continue
                }
                toPlace.append(config)
            }
            // One round per backend and binary: instances that share them are placed together.
            let groups = Dictionary(grouping: toPlace) { "\($0.gpu.backend)|\($0.binary.resolvedPath ?? "")" }
            for key in groups.keys.sorted() {
                guard let configs = groups[key] else { continue }
                let held =
                    PlanningRound.placements(of: (try? store.openRuns()) ?? [])
                    + entries.values.compactMap(\.pendingPlacement)
                let outcome: PlanningRound.Outcome
                do {
                    outcome = try await PlanningRound(
                        configs: configs, root: root, environment: environment, heldPlacements: held
                    ).run()
                } catch {
                    for config in configs { outcomes[config.name] = failure(config.name, error) }
                    continue
                }
                for refusal in outcome.report.refusals {
                    outcomes[refusal.instance] = InstanceOutcome(
                        name: refusal.instance, result: .failed, message: "does not fit: \(refusal.description)",
                        exitCode: OrchestratorExitCode.placementImpossible.rawValue)
                    record(refusal.instance, "placement-refused", refusal.description)
                }
                for planned in outcome.report.instances {
                    guard let config = configs.first(where: { $0.name == planned.placement.instance }) else { continue }
                    // A `down` while it was being placed: it wins (nothing is set up until the check passes,
                    // and there is no suspension between the two).
                    guard stopRequests[config.name, default: 0] == stopsSeen[config.name] else {
                        outcomes[config.name] = InstanceOutcome(
                            name: config.name, result: .unchanged, message: "not started: stopped while being placed")
                        continue
                    }
                    do {
                        let promise = try await enqueue(config, planned, backend: outcome.backend)
                        if let promise {
                            launches.append((config.name, promise))
                        } else {
                            outcomes[config.name] = InstanceOutcome(
                                name: config.name, result: .queued,
                                message:
                                    "queued: starts when the instance before it on \(Self.queueKey(planned.placement)) is healthy"
                            )
                        }
                    } catch {
                        outcomes[config.name] = failure(config.name, error)
                    }
                }
            }
        }
        for (name, promise) in launches { outcomes[name] = await promise.result }
        return InstancesResponse(outcomes: names.compactMap { outcomes[$0] })
    }

    /// Sets up the instance's supervisor for a placement and queues its start on its device; returns the
    /// start's outcome to wait for when the queue was idle, `nil` when it waits behind another start.
    private func enqueue(
        _ config: InstanceConfig, _ planned: PlannedInstance, backend: String
    ) async throws
        -> Promise<InstanceOutcome>?
    {
        let name = config.name
        var environment = environment
        for (key, value) in planned.command.environment { environment[key] = value }
        let spec = LaunchSpec(
            argv: planned.command.argv, environment: environment, host: config.server.host, port: config.server.port,
            placementJSON: Self.placementJSON(planned.placement, backend: backend), workingDirectory: root.path)
        let supervisor = try makeSupervisor(name, config: config, spec: spec)
        entries[name] = Entry(
            supervisor: supervisor, config: config, backend: backend, pendingPlacement: planned.placement)
        record(name, "placed", "\(planned.placement.mode.rawValue) on \(Self.queueKey(planned.placement)) (\(backend))")
        let key = Self.queueKey(planned.placement)
        let queue = queues[key] ?? BootQueue()
        queues[key] = queue
        let promise = Promise<InstanceOutcome>()
        let lock = lock(for: name)
        let startPeriod = Duration.seconds(config.healthcheck.startPeriod)
        let idle = await queue.enqueue {
            let outcome = await lock.withLock { await self.startQueued(name, supervisor) }
            promise.fulfill(outcome)
            guard outcome.result == .started else { return }
            // The next start on this device waits until this one is healthy, failed or past its start period.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await supervisor.waitForState([.healthy, .failed, .stopped]) }
                // On the coalescing clock: cancelled, its timer is gone. A cancelled `Task.sleep` still fires its
                // dispatch timer at the end of the period, waking a worker thread for each instance started.
                group.addTask {
                    let clock = CoalescingClock()
                    try? await clock.sleep(until: clock.now.advanced(by: startPeriod), tolerance: .milliseconds(100))
                }
                await group.next()
                group.cancelAll()
            }
        }
        return idle ? promise : nil
    }

    /// Starts a queued instance, unless a `down` came first or a newer `up` replaced its supervisor.
    private func startQueued(
        _ name: String, _ supervisor: InstanceSupervisor<CoalescingClock>
    ) async
        -> InstanceOutcome
    {
        guard !shuttingDown else {
            return InstanceOutcome(name: name, result: .unchanged, message: "not started: the daemon is shutting down")
        }
        guard let entry = entries[name], entry.supervisor === supervisor, entry.pendingPlacement != nil else {
            return InstanceOutcome(name: name, result: .unchanged, message: "not started: stopped before its turn")
        }
        entries[name]?.pendingPlacement = nil
        do {
            // Recorded here, under the instance's lock, so that the desired state and what runs agree.
            try store.setDesiredState(.running, for: name)
            try await supervisor.start()
            let run = await supervisor.currentRun
            let port = await supervisor.spec.port
            return InstanceOutcome(
                name: name, result: .started,
                message: "started pid \(run.map { "\($0.pid)" } ?? "?") on port \(run?.port ?? port)")
        } catch {
            return failure(name, error)
        }
    }

    public func down(_ request: InstancesRequest) async throws -> InstancesResponse {
        let names = try resolve(request, forUp: false)
        var outcomes: [InstanceOutcome] = []
        await withTaskGroup(of: InstanceOutcome.self) { group in
            for name in names {
                let lock = lock(for: name)
                group.addTask { await lock.withLock { await self.stopOne(name) } }
            }
            for await outcome in group { outcomes.append(outcome) }
        }
        if request.all {
            for process in unrecordedProcesses() {
                await ProcessGroupTerminator.stop(group: process.processGroup, grace: stopGrace)
                record(process.instance, "unrecorded-stopped", "stopped unrecorded pid \(process.pid)")
                outcomes.append(
                    InstanceOutcome(
                        name: process.instance, result: .stopped, message: "stopped unrecorded pid \(process.pid)"))
            }
        }
        let order = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return InstancesResponse(outcomes: outcomes.sorted { (order[$0.name] ?? .max) < (order[$1.name] ?? .max) })
    }

    private func stopOne(_ name: String) async -> InstanceOutcome {
        stopRequests[name, default: 0] += 1
        do {
            try store.setDesiredState(.stopped, for: name)
        } catch {
            return failure(name, error)
        }
        guard let entry = entries[name] else {
            return InstanceOutcome(name: name, result: .unchanged, message: "not running")
        }
        entries[name]?.pendingPlacement = nil
        let state = await entry.supervisor.state
        let pid = await entry.supervisor.currentRun?.pid
        await entry.supervisor.stop()
        if state == .stopped && pid == nil {
            return InstanceOutcome(name: name, result: .unchanged, message: "not running")
        }
        return InstanceOutcome(name: name, result: .stopped, message: pid.map { "stopped pid \($0)" } ?? "stopped")
    }

    public func restart(_ request: InstancesRequest) async throws -> InstancesResponse {
        let names = try resolve(request, forUp: false)
        let stopped = try await down(InstancesRequest(names: names))
        let started = try await up(InstancesRequest(names: names))
        return InstancesResponse(
            outcomes: started.outcomes.map { outcome in
                guard outcome.result == .started || outcome.result == .queued else { return outcome }
                let was = stopped.outcomes.first { $0.name == outcome.name }
                var restarted = outcome
                restarted.result = was?.result == .stopped ? .restarted : outcome.result
                return restarted
            })
    }

    public func stopDaemon(_ request: DaemonStopRequest) async {
        shuttingDown = true
        if !request.keepInstances {
            await withTaskGroup(of: Void.self) { group in
                for (name, entry) in entries {
                    let lock = lock(for: name)
                    group.addTask {
                        await lock.withLock {
                            await entry.supervisor.stop()
                        }
                    }
                }
            }
        }
        logger.info("daemon stop requested (\(request.keepInstances ? "keeping" : "stopped") the instances)")
        if let shutdown { Task { await shutdown() } }
    }

    /// Ends supervision of every instance and leaves the servers running (the daemon is shutting down).
    public func detachAll() async {
        shuttingDown = true
        for (name, entry) in entries {
            await lock(for: name).withLock { await entry.supervisor.detach() }
        }
    }

    // MARK: Helpers

    /// The names a request means; unknown names are an error.
    private func resolve(_ request: InstancesRequest, forUp: Bool) throws -> [String] {
        let configured = configuredNames()
        if request.all {
            return forUp ? configured : Set(configured).union(entries.keys).sorted()
        }
        guard !request.names.isEmpty else { throw DaemonError.noNames }
        for name in request.names where !configured.contains(name) && (forUp || entries[name] == nil) {
            throw DaemonError.noSuchInstance(name)
        }
        var seen = Set<String>()
        return request.names.filter { seen.insert($0).inserted }
    }

    private func makeSupervisor(
        _ name: String, config: InstanceConfig?, spec: LaunchSpec
    ) throws
        -> InstanceSupervisor<CoalescingClock>
    {
        let settings =
            config.map { SupervisionSettings(config: $0, stopGrace: stopGrace) }
            ?? SupervisionSettings(stopGrace: stopGrace)
        let checker = try checkers.lookup(config?.healthcheck.type ?? "http")
        let policy = try policies.lookup(config?.restartPolicy.type ?? "on-failure")
        let (box, onActivity) = (lastTransitions, onActivity)
        return InstanceSupervisor(
            instance: name, spec: spec, settings: settings, checker: checker, policy: policy, root: root.path,
            store: store, clock: CoalescingClock(), logger: logger,
            onTransition: { transition in
                box.withValue { $0[transition.instance] = transition }
                onActivity()
            })
    }

    private func failure(_ name: String, _ error: any Error) -> InstanceOutcome {
        let code = (error as? any OrchestratorError)?.exitCode ?? .failure
        return InstanceOutcome(
            name: name, result: .failed, message: "\(error)", exitCode: code.rawValue)
    }

    private func warn(_ message: String) {
        logger.warning("\(message)")
        warnings.append(message)
    }

    private func record(_ instance: String, _ kind: String, _ message: String) {
        do {
            try store.appendEvent(
                InstanceEvent(time: Date().timeIntervalSince1970, instance: instance, kind: kind, message: message))
        } catch {
            logger.warning("cannot record event \(kind): \(error)")
        }
    }

    /// The start queue of a placement: its first GPU, or the host for a CPU-only one.
    static func queueKey(_ placement: Placement) -> String {
        guard let first = placement.shares.first else { return "host" }
        return first.llamaName ?? first.deviceID
    }

    /// The placement as the run records it: the scheduler's `Placement` plus the backend that placed it.
    static func placementJSON(_ placement: Placement, backend: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(placement),
            var object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return "{}" }
        object["backend"] = backend
        guard let joined = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            return "{}"
        }
        return String(decoding: joined, as: UTF8.self)
    }

    /// The backend recorded in a run's placement JSON.
    /// The backend and devices of a run's placement, decoded once per run.
    private func placementSummary(_ run: RunInfo) -> (backend: String?, devices: String?) {
        if let known = placementSummaries[run.runID] { return known }
        let summary = (Self.backend(ofPlacement: run.placementJSON), Self.devices(ofPlacement: run.placementJSON))
        // Only the current runs matter: drop the others rather than grow with every restart.
        if placementSummaries.count > 4 * max(entries.count, 16) { placementSummaries = [:] }
        placementSummaries[run.runID] = summary
        return summary
    }

    static func backend(ofPlacement json: String) -> String? {
        ((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any])?["backend"] as? String
    }

    /// The devices of a run's placement: llama.cpp's names of its GPUs, or `host`.
    static func devices(ofPlacement json: String) -> String? {
        guard let placement = try? JSONDecoder().decode(Placement.self, from: Data(json.utf8)) else { return nil }
        if placement.shares.isEmpty { return "host" }
        return placement.shares.map { $0.llamaName ?? $0.deviceID }.joined(separator: ",")
    }
}

/// The version the daemon reports.
public enum DaemonVersion {
    public static let string = "0.1.0"
}

/// A request the daemon refuses.
public enum DaemonError: OrchestratorError, Equatable {
    case noSuchInstance(String)
    case noNames
    /// Another daemon holds the root's lock: its pid, when the pid file says.
    case alreadyRunning(root: String, pid: Int32?)
    /// The daemon could not set itself up: the socket, the lock, the state folder.
    case cannotStart(String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .noSuchInstance: .notFound
        case .noNames: .usage
        case .alreadyRunning, .cannotStart: .daemonUnreachable
        }
    }

    public var description: String {
        switch self {
        case .noSuchInstance(let name):
            "no instance '\(name)' (no instances/\(name)/config.json); create it with 'llama-orch init \(name) --model PATH'"
        case .noNames: "name at least one instance, or pass --all"
        case .alreadyRunning(let root, let pid):
            "a daemon already runs for \(root)\(pid.map { " (pid \($0))" } ?? ""); stop it with 'llama-orch daemon stop'"
        case .cannotStart(let reason): "cannot start the daemon: \(reason)"
        }
    }
}
