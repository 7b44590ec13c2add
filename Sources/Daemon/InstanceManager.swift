import ControlAPI
import Drivers
import Foundation
import Host
import Logging
import OrchestratorCore
import Router
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
        var supervisor: InstanceSupervisor<ContinuousClock>
        var config: InstanceConfig?
        /// The driver that placed it.
        var backend: String?
        /// Placed and queued, not yet started: its memory counts as held.
        var pendingPlacement: Placement?
        /// The outcome of its last queued start, once it has had its turn.
        var start: Promise<InstanceOutcome>?
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
    var entries: [String: Entry] = [:]
    /// Built once: the driver registry does not change while the daemon runs.
    private let knownNames = KnownNames(backends: DriverCatalog.registry().names)
    private var instanceLocks: [String: AsyncLock] = [:]
    private var queues: [String: BootQueue] = [:]
    /// How many times each instance was asked to stop: an `up` that notes it before placing (which takes a
    /// while, without the instance's lock) starts nothing if a `down` came in between.
    private var stopRequests: [String: Int] = [:]
    private let placementLock = AsyncLock()
    /// `drift(of:)`'s last answer per instance, with what it was computed from.
    private var driftCache: [String: (recorded: RunFingerprint, stamps: [FileStamp?], changes: [String]?)] = [:]
    /// The router, when the daemon serves one, and which instances it started.
    public nonisolated let routerLink = RouterLink()
    /// Requests the router proxied, on their way to the store.
    public nonisolated let requestLog: RouterRequestLog
    let lastTransitions = LockedBox<[String: InstanceTransition]>([:])
    /// Set once the daemon shuts down: queued starts are dropped.
    private var shuttingDown = false
    private let onActivity: @Sendable () -> Void
    /// Called by `stopDaemon` once the instances are dealt with: shuts the service group down.
    private var shutdown: (@Sendable () async -> Void)?

    /// SIGTERM to SIGKILL for every server the daemon stops (`export kubernetes` makes it the pods' grace period).
    public static let defaultStopGrace: Duration = .seconds(30)

    /// - Parameters:
    ///   - environment: the daemon's environment: drivers and the binary search read it, servers inherit it.
    ///   - stopGrace: SIGTERM to SIGKILL for every server.
    ///   - onActivity: called at every state change of an instance (the daemon's `IdleTrim` waits for quiet).
    public init(
        root: ProjectRoot, store: StateStore, environment: [String: String],
        checkers: Registry<any HealthChecker> = .standardHealthCheckers,
        policies: Registry<any RestartPolicy> = .standardRestartPolicies,
        stopGrace: Duration = InstanceManager.defaultStopGrace,
        logger: Logger = Logger(label: "llama-orch.daemon"), warnings: [String] = [],
        onActivity: @escaping @Sendable () -> Void = {}
    ) {
        self.onActivity = onActivity
        self.root = root
        self.store = store
        var environment = environment
        environment.removeValue(forKey: ProcessMarker.instance)
        environment.removeValue(forKey: ProcessMarker.run)
        self.environment = environment
        self.checkers = checkers
        self.policies = policies
        self.stopGrace = stopGrace
        self.logger = logger
        self.warnings = warnings
        requestLog = RouterRequestLog(store: store, logger: logger)
    }

    /// Sets what `stopDaemon` calls last.
    public func onShutdown(_ body: @escaping @Sendable () async -> Void) {
        shutdown = body
    }

    // MARK: Configs

    var validator: ConfigValidator {
        ConfigValidator(knownNames: knownNames)
    }

    /// The instance folders under `instances/`.
    func configuredNames() -> [String] {
        ConfigValidator.instanceNames(in: root)
    }

    private func lock(for name: String) -> AsyncLock {
        if let lock = instanceLocks[name] { return lock }
        let lock = AsyncLock()
        instanceLocks[name] = lock
        return lock
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

    /// Without `all`, the supervised instances only: their configs are the ones they run with, so `ps` asks the
    /// store twice whatever the count and reads a config file only when it changed (`drift(of:)`).
    public func instances(all: Bool) async -> [InstanceStatus] {
        let names = (all ? Set(configuredNames()).union(entries.keys) : Set(entries.keys)).sorted()
        let desired = (try? store.desiredStates()) ?? [:]
        let restarts = (try? store.restartCounts()) ?? [:]
        // What the router knows, asked once: its service runs on the router's event loop, and a question per
        // instance crossed threads twice each (3 ms of a `ps` with 100 instances).
        let routed = await routerLink.service?.statuses(named: names) ?? [:]
        var list: [InstanceStatus] = []
        for name in names {
            let status = await status(
                of: name, desired: desired[name] ?? .stopped, restarts: restarts[name] ?? 0, routed: routed[name])
            if all || (status.state != .stopped && status.state != .invalid) {
                list.append(status)
            }
        }
        return list
    }

    public func instance(named name: String) async throws -> InstanceStatus {
        guard entries[name] != nil || configuredNames().contains(name) else { throw DaemonError.noSuchInstance(name) }
        return await status(
            of: name, desired: ((try? store.desiredStates()) ?? [:])[name] ?? .stopped,
            restarts: (try? store.restartCount(for: name)) ?? 0,
            routed: await routerLink.service?.status(named: name))
    }

    /// The status of one instance, with what the router knows of it (`routed`).
    private func status(
        of name: String, desired: DesiredState, restarts: Int, routed: RouterService.ModelStatus?
    ) async -> InstanceStatus {
        var status = await supervisedStatus(of: name, desired: desired, restarts: restarts)
        if let routed {
            status.router = RouterInstanceStatus(
                status: routed.phase.statusValue,
                startedByRouter: routerLink.owner(of: name) == .router && status.state != .stopped,
                inFlight: routed.inFlight, queued: routed.queued, unloadAt: routed.unloadAt)
        }
        return status
    }

    /// The status of one instance, from its supervisor and run (a supervised one) or its config file.
    private func supervisedStatus(of name: String, desired: DesiredState, restarts: Int) async -> InstanceStatus {
        let last = lastTransitions.withValue { $0[name] }
        guard let entry = entries[name] else {
            return InstanceStatusProjection.unsupervised(
                name, report: validator.validate(instance: name, in: root),
                configFileExists: FileManager.default.fileExists(atPath: root.configFile(name)), desired: desired,
                restarts: restarts, last: last)
        }
        let state = await entry.supervisor.state
        // A running instance shows the config it runs with; a stopped one what its file says now.
        let config: InstanceConfig? =
            state == .stopped ? validator.validate(instance: name, in: root).config ?? entry.config : entry.config
        if entry.pendingPlacement != nil {
            return InstanceStatusProjection.queued(
                name, config: config, backend: entry.backend, desired: desired, restarts: restarts, last: last)
        }
        let changes = state == .stopped || state == .failed ? nil : await drift(of: name, entry)
        return InstanceStatusProjection.supervised(
            name, state: state, run: await entry.supervisor.currentRun, config: config, backend: entry.backend,
            desired: desired, restarts: restarts, last: last, configChanges: changes?.isEmpty == false ? changes : nil)
    }

    /// What differs between what an instance runs with and its files now (config, model file, binary): empty
    /// when nothing does; `nil` when it is not known (a run recorded by an older daemon, an invalid config).
    ///
    /// `ps` asks for every running instance: the answer is kept until one of the three files changes (three
    /// `stat` calls instead of reading and validating the config each time; `ps` with 100 instances has a 15 ms
    /// budget).
    func drift(of name: String, _ entry: Entry) async -> [String]? {
        guard let recorded = await entry.supervisor.spec.fingerprint else { return nil }
        let stamps = [root.configFile(name), recorded.model?.path, recorded.binary?.path].map { path in
            path.flatMap { FileStamp(path: $0) }
        }
        if let cached = driftCache[name], cached.recorded == recorded, cached.stamps == stamps {
            return cached.changes
        }
        let changes = validator.validate(instance: name, in: root).config.map {
            Self.drift(from: recorded, to: $0)
        }
        driftCache[name] = (recorded, stamps, changes)
        return changes
    }

    /// `recorded.changes(to:)` the fingerprint `config` and the recorded binary have now.
    static func drift(from recorded: RunFingerprint, to config: InstanceConfig) -> [String] {
        let now = RunFingerprint(
            config: RunFingerprint.canonicalJSON(config), model: FileStamp(path: config.model.resolvedPath),
            binary: recorded.binary.flatMap { FileStamp(path: $0.path) }, argv: recorded.argv)
        return recorded.changes(to: now)
    }

    public func up(_ request: InstancesRequest) async throws -> InstancesResponse {
        try await up(request, byRouter: false)
    }

    /// `up`; one the user asks for makes what it starts or keeps the user's (the router no longer unloads it).
    func up(_ request: InstancesRequest, byRouter: Bool) async throws -> InstancesResponse {
        let names = try resolve(request, forUp: true)
        var outcomes: [String: InstanceOutcome] = [:]
        var launches: [(String, Promise<InstanceOutcome>)] = []
        var recreated: [String: [String]] = [:]
        var orphans: [String] = []
        await placementLock.withLock {
            var toPlace: [InstanceConfig] = []
            var stopsSeen: [String: Int] = [:]
            if request.all && request.removeOrphans {
                let configured = Set(names)
                for name in entries.keys.sorted() where !configured.contains(name) {
                    let outcome = await lock(for: name).withLock {
                        await self.stopOne(name, reason: Self.stoppedByUser)
                    }
                    guard outcome.result == .stopped else { continue }
                    record(name, "orphan-removed", "instances/\(name) is gone: \(outcome.message)")
                    outcomes[name] = InstanceOutcome(
                        name: name, result: .stopped, message: "orphan (instances/\(name) is gone): \(outcome.message)")
                    orphans.append(name)
                }
            }
            // Checked against each other too, as `config validate` and `plan` do: two instances on one port.
            let reports = validator.validateAll(in: root)
            for name in names {
                let report = reports.first { $0.name == name } ?? validator.validate(instance: name, in: root)
                guard let config = report.config, report.isValid else {
                    outcomes[name] = InstanceOutcome(
                        name: name, result: .failed,
                        message: ConfigError(file: report.file, issues: report.issues).description,
                        exitCode: OrchestratorExitCode.configInvalid.rawValue)
                    continue
                }
                // An instance that runs (or waits in a start queue) stays as it is unless what it runs with changed;
                // the check, the desired state and the stop of a recreated one are one step under the instance's
                // lock, so a `down` is either before or after all of them.
                let decision = await lock(for: name).withLock { () -> UpDecision in
                    stopsSeen[name] = stopRequests[name, default: 0]
                    guard let entry = entries[name] else { return .place }
                    let state = await entry.supervisor.state
                    guard entry.pendingPlacement != nil || (state != .stopped && state != .failed) else {
                        return .place
                    }
                    do {
                        try store.setDesiredState(.running, for: name)
                    } catch {
                        return .keep(failure(name, error))
                    }
                    let decision = await recreateDecision(name, entry, state: state, config: config, request.recreate)
                    if case .recreate(let changes) = decision {
                        record(
                            name, "recreating",
                            changes.isEmpty
                                ? "recreated on request (--force-recreate)" : changes.joined(separator: "; "))
                        await entry.supervisor.stop()
                    }
                    return decision
                }
                switch decision {
                case .keep(let outcome):
                    outcomes[name] = outcome
                    continue
                case .recreate(let changes):
                    recreated[name] = changes
                case .place:
                    break
                }
                toPlace.append(config)
            }
            // One round per backend and binary: instances that share them are placed together.
            let groups = Dictionary(grouping: toPlace) { "\($0.gpu.backend)|\($0.binary.resolvedPath ?? "")" }
            for key in groups.keys.sorted() {
                guard let configs = groups[key] else { continue }
                let held =
                    PlanningRound.placements(of: (try? store.openRuns()) ?? [])
                    + entries.values.compactMap(\.pendingPlacement).map { HeldPlacement(placement: $0) }
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
        for (name, changes) in recreated {
            guard var outcome = outcomes[name] else { continue }
            let why = changes.isEmpty ? "--force-recreate" : changes.joined(separator: "; ")
            outcome.changes = changes
            // The old server is stopped either way: a new one that cannot start says so.
            outcome.message =
                outcome.result == .failed
                ? "stopped to recreate (\(why)), not started again: \(outcome.message)"
                : "recreated (\(why)): \(outcome.message)"
            outcomes[name] = outcome
        }
        if !byRouter {
            for name in names where outcomes[name].map({ $0.result != .failed }) ?? false {
                guard routerLink.owner(of: name) == .router else { continue }
                markStarted(name, byRouter: false)
                // The router counted it as its own: told in order with the supervisor's transitions.
                if let state = await entries[name]?.supervisor.state {
                    routerLink.send(
                        InstanceTransition(
                            instance: name, from: state, to: state, reason: "kept by up",
                            time: Date().timeIntervalSince1970))
                }
            }
        }
        return InstancesResponse(outcomes: (orphans + names).compactMap { outcomes[$0] })
    }

    /// What `up` does with one instance.
    enum UpDecision {
        /// Leave it as it is; the outcome says why.
        case keep(InstanceOutcome)
        /// It does not run: place and start it.
        case place
        /// It was stopped because of these changes (empty: forced); place and start it again.
        case recreate([String])
    }

    /// Whether `up` recreates an instance that runs (or waits in a start queue), by the request's policy and what
    /// changed since it started.
    private func recreateDecision(
        _ name: String, _ entry: Entry, state: InstanceState, config: InstanceConfig,
        _ policy: InstancesRequest.Recreate
    ) async -> UpDecision {
        let already = "already \(entry.pendingPlacement != nil ? "queued" : state.rawValue)"
        // A queued one has not started: it starts with the placement it has; `down` and `up` replace it.
        guard entry.pendingPlacement == nil, policy != .never else {
            return .keep(InstanceOutcome(name: name, result: .unchanged, message: already))
        }
        guard let recorded = await entry.supervisor.spec.fingerprint else {
            if policy == .always { return .recreate([]) }
            return .keep(
                InstanceOutcome(
                    name: name, result: .unchanged,
                    message:
                        "\(already); started by a llama-orch that recorded no fingerprint, so changes are unknown "
                        + "(--force-recreate restarts it)"))
        }
        let changes = Self.drift(from: recorded, to: config)
        if changes.isEmpty && policy != .always {
            return .keep(InstanceOutcome(name: name, result: .unchanged, message: "\(already), unchanged"))
        }
        return .recreate(changes)
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
            placement: planned.placement, backend: backend, workingDirectory: root.path,
            fingerprint: RunFingerprint(
                config: RunFingerprint.canonicalJSON(config), model: FileStamp(path: config.model.resolvedPath),
                binary: planned.command.argv.first.flatMap { FileStamp(path: $0) }, argv: planned.command.argv))
        let supervisor = try makeSupervisor(name, config: config, spec: spec)
        let promise = Promise<InstanceOutcome>()
        entries[name] = Entry(
            supervisor: supervisor, config: config, backend: backend, pendingPlacement: planned.placement,
            start: promise)
        record(name, "placed", "\(planned.placement.mode.rawValue) on \(Self.queueKey(planned.placement)) (\(backend))")
        let key = Self.queueKey(planned.placement)
        let queue = queues[key] ?? BootQueue()
        queues[key] = queue
        let lock = lock(for: name)
        let startPeriod = Duration.seconds(config.healthcheck.startPeriod)
        let idle = await queue.enqueue {
            let outcome = await lock.withLock { await self.startQueued(name, supervisor) }
            promise.fulfill(outcome)
            guard outcome.result == .started else { return }
            // The next start on this device waits until this one is healthy, failed or past its start period.
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await supervisor.waitForState([.healthy, .failed, .stopped]) }
                group.addTask { try? await Task.sleep(for: startPeriod) }
                await group.next()
                group.cancelAll()
            }
        }
        return idle ? promise : nil
    }

    /// Starts a queued instance, unless a `down` came first or a newer `up` replaced its supervisor.
    private func startQueued(
        _ name: String, _ supervisor: InstanceSupervisor<ContinuousClock>
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
        try await down(request, reason: Self.stoppedByUser)
    }

    /// The `stopped` reason of a `down`.
    static let stoppedByUser = "stopped by the user"

    /// `down`, with the reason the supervisors' `stopped` transitions give (the router's unloads say theirs).
    func down(_ request: InstancesRequest, reason: String) async throws -> InstancesResponse {
        let names = try resolve(request, forUp: false)
        var outcomes: [InstanceOutcome] = []
        await withTaskGroup(of: InstanceOutcome.self) { group in
            for name in names {
                let lock = lock(for: name)
                group.addTask { await lock.withLock { await self.stopOne(name, reason: reason) } }
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

    private func stopOne(_ name: String, reason: String) async -> InstanceOutcome {
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
        await entry.supervisor.stop(reason: reason)
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

    func makeSupervisor(
        _ name: String, config: InstanceConfig?, spec: LaunchSpec
    ) throws
        -> InstanceSupervisor<ContinuousClock>
    {
        let settings =
            config.map { SupervisionSettings(config: $0, stopGrace: stopGrace) }
            ?? SupervisionSettings(stopGrace: stopGrace)
        let checker = try checkers.lookup(config?.healthcheck.type ?? "http")
        let policy = try policies.lookup(config?.restartPolicy.type ?? "on-failure")
        let (box, onActivity, routerLink) = (lastTransitions, onActivity, routerLink)
        return InstanceSupervisor(
            instance: name, spec: spec, settings: settings, checker: checker, policy: policy, root: root.path,
            store: store, clock: ContinuousClock(), logger: logger,
            onTransition: { transition in
                box.withValue { $0[transition.instance] = transition }
                routerLink.send(transition)
                onActivity()
            })
    }

    private func failure(_ name: String, _ error: any Error) -> InstanceOutcome {
        let code = (error as? any OrchestratorError)?.exitCode ?? .failure
        return InstanceOutcome(
            name: name, result: .failed, message: "\(error)", exitCode: code.rawValue)
    }

    func warn(_ message: String) {
        logger.warning("\(message)")
        warnings.append(message)
    }

    func record(_ instance: String, _ kind: String, _ message: String) {
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
}
