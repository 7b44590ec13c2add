import ControlAPI
import Foundation
import Host
import Logging
import OrchestratorCore
import Router
import ServiceLifecycle
import StateStore
import Supervisor
import UnixSignals

/// Runs the daemon of one project root in the foreground until SIGTERM, SIGINT or `daemon stop`.
///
/// One daemon per root: it holds an exclusive `flock` on `state/daemon.lock` for its whole life and writes
/// its pid to `state/daemon.pid`. It re-adopts the servers a previous daemon left running, serves the control
/// API on `state/daemon.sock` (mode 0600), then starts the autostart instances. SIGTERM and SIGINT detach: the
/// servers keep running for the next daemon (the boot unit's `KillMode=process`); `daemon stop` stops them
/// first unless told to keep them.
public enum DaemonRunner {
    /// - Throws: `DaemonError.alreadyRunning` when another daemon holds the lock; `.cannotStart`;
    ///   `StateStoreError`.
    public static func run(
        root: ProjectRoot, environment: [String: String], logger: Logger = Logger(label: "llama-orch.daemon")
    ) async throws {
        // Two malloc arenas, not one per thread: the daemon runs for weeks and its memory should stay flat.
        ProcessMemory.limitMallocArenas(2)
        // Every client of the router and every server connection is a descriptor: the usual soft limit (1,024) is
        // reached by a few hundred clients.
        let openFiles = ProcessLimits.raiseOpenFileLimit()
        do {
            try FileManager.default.createDirectory(atPath: root.stateDirectory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root.logsDirectory, withIntermediateDirectories: true)
        } catch {
            throw DaemonError.cannotStart("cannot create \(root.stateDirectory): \(error.localizedDescription)")
        }
        let lock = open(root.daemonLockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else {
            throw DaemonError.cannotStart("cannot open \(root.daemonLockFile): \(String(cString: strerror(errno)))")
        }
        let code = lockOnceTheLastDaemonIsGone(lock, holder: { readPID(root) })
        guard code == 0 else {
            close(lock)
            // Held by another daemon; any other refusal (a filesystem without locks) is not that.
            guard code == EWOULDBLOCK else {
                throw DaemonError.cannotStart("cannot lock \(root.daemonLockFile): \(String(cString: strerror(code)))")
            }
            throw DaemonError.alreadyRunning(root: root.path, pid: readPID(root))
        }
        // The lock is held until the process ends; the descriptor is never closed.
        let pid = getpid()
        do {
            try "\(pid)\n".write(toFile: root.daemonPIDFile, atomically: true, encoding: .utf8)
        } catch {
            throw DaemonError.cannotStart("cannot write \(root.daemonPIDFile): \(error.localizedDescription)")
        }
        // The socket is created by bind(); with this mask only the owner can connect, from the first moment.
        let userMask = umask(0o077)
        let (store, storeWarnings) = try StateStore.open(path: root.stateDatabase, logger: logger)
        try store.checkWritable()
        let trim = IdleTrim {
            store.releaseMemory()
            ProcessMemory.trimMalloc()
        }
        let manager = InstanceManager(
            root: root, store: store, environment: environment, logger: logger, warnings: storeWarnings,
            onActivity: { trim.noteActivity() })
        // A log left large by an earlier daemon is rotated before this one writes to it, then every 30 s.
        let daemonLog = root.daemonLog
        let reports = ReportOnce()
        let rotateDaemonLog: @Sendable () -> Void = { [logger] in
            switch DaemonLog.rotateIfNeeded(daemonLog) {
            case nil, .cancelled?: break
            case .rotated?: reports.succeeded(daemonLog)
            case .failed(let reason)?:
                if reports.failed(daemonLog) {
                    logger.warning("cannot rotate \(daemonLog), it keeps growing until a rotation works: \(reason)")
                }
            }
        }
        rotateDaemonLog()
        _ = LogRotator.shared.watch(every: DaemonLog.interval) { _ in rotateDaemonLog() }
        logger.info(
            "daemon \(pid) starting for \(root.path), open-file limit \(openFiles.map(String.init) ?? "unknown")")
        await manager.recover()
        unlink(root.daemonSocket)
        let socket = root.daemonSocket
        let application = try ControlServer.application(
            socketPath: socket, handler: manager, logger: logger,
            onRunning: {
                chmod(socket, 0o600)
                // The socket exists: back to the user's mask, which the servers (and their logs) inherit.
                umask(userMask)
                logger.info("control API on \(socket)")
                Task { await manager.autostart() }
                // Starting (recovery, re-adoption) was a burst of work too.
                trim.noteActivity()
            },
            onRequest: { trim.noteActivity() })
        var services: [any Service] = [application, ShutdownService(manager: manager)]
        if let router = makeRouter(root: root, environment: environment, manager: manager, logger: logger) {
            services.append(router)
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        await manager.onShutdown { await group.triggerGracefulShutdown() }
        defer {
            unlink(socket)
            if readPID(root) == pid { unlink(root.daemonPIDFile) }
            logger.info("daemon \(pid) stopped")
        }
        try await group.run()
    }

    /// The router's service, when `llama-orch.json` enables it (the default) and is valid; a problem is a warning
    /// of the daemon, never a reason not to supervise.
    static func makeRouter(
        root: ProjectRoot, environment: [String: String], manager: InstanceManager, logger: Logger
    ) -> (any Service)? {
        let report = ProjectSettings.load(root: root)
        guard let settings = report.settings, report.isValid else {
            let error = ConfigError(file: report.file, issues: report.issues)
            Task { await manager.warn("the router is not served: \(error)") }
            return nil
        }
        guard settings.router.enabled else { return nil }
        let router = settings.router
        // A key whose variable is not set in the daemon's environment is no key: with none left, the router
        // would be open to whoever reaches it, which the file asked for keys to prevent.
        let unset = router.apiKeys.enumerated().compactMap { index, key -> String? in
            guard key.value(in: environment) == nil, case .environment(let name) = key else { return nil }
            return "router.api_keys[\(index)] ($\(name))"
        }
        if !unset.isEmpty {
            let which = "\(unset.joined(separator: ", ")) \(unset.count == 1 ? "names a variable" : "name variables") "
            let fix =
                "set it in the daemon's environment (or remove the key), then restart the daemon "
                + "('llama-orch daemon stop --keep-instances', then 'llama-orch daemon start')"
            if unset.count == router.apiKeys.count {
                Task {
                    await manager.warn(
                        "the router is not served: \(which)unset or empty, so no key would be asked for; \(fix)")
                }
                return nil
            }
            Task { await manager.warn("\(which)unset or empty: the router asks for the other keys only; \(fix)") }
        }
        let service = RouterService(
            backend: manager,
            limits: LoadScheduler.Limits(
                queueLimit: router.queueLimit,
                queueTimeout: .milliseconds(Int64((router.queueTimeout * 1000).rounded()))),
            logger: logger)
        manager.routerLink.attach(service)
        // The servers re-adopted at start are known at once: the router's own count their idle time from now.
        Task { await service.refresh() }
        let serverSettings = RouterServer.Settings(router, environment: environment)
        let requestLog = manager.requestLog
        let server = RouterServer(
            settings: serverSettings, service: service, logger: logger, record: { requestLog.append($0) },
            beforeScrape: {
                let statuses = await manager.instances(all: true)
                service.metrics.instances(
                    statuses.map { ($0.name, $0.router?.status ?? "unloaded", $0.restarts) })
            })
        return RouterHostService(
            server: server, address: router.listen, manager: manager, requestLog: requestLog, logger: logger)
    }

    /// Takes the exclusive lock on `descriptor`; returns 0, or the `errno` of the refusal (`EWOULDBLOCK`: another
    /// daemon holds it).
    ///
    /// A daemon killed a moment ago still holds the lock until its last thread has exited, a little after its
    /// main thread turned zombie (`kill -9` then `daemon start` lost that race about one time in four with fifty
    /// servers). So while the pid file names (`holder`) a process that is gone or a zombie, the lock is tried again
    /// until `patience` has passed; a live holder is a refusal at once.
    static func lockOnceTheLastDaemonIsGone(
        _ descriptor: Int32, holder: () -> Int32?, patience: Duration = .seconds(5)
    ) -> Int32 {
        let deadline = ContinuousClock.now + patience
        while true {
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return 0 }
            let code = errno
            guard code == EWOULDBLOCK, ContinuousClock.now < deadline, let pid = holder(), !ProcessIdentity.isLive(pid)
            else { return code }
            usleep(20_000)
        }
    }

    /// The pid in `state/daemon.pid`, if any.
    public static func readPID(_ root: ProjectRoot) -> Int32? {
        (try? String(contentsOfFile: root.daemonPIDFile, encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

/// Waits for the group's graceful shutdown, then ends supervision and leaves the servers running: the next
/// daemon re-adopts them. (`daemon stop` without `--keep-instances` has stopped them already.)
struct ShutdownService: Service {
    let manager: InstanceManager

    func run() async throws {
        try? await gracefulShutdown()
        await manager.detachAll()
    }
}

/// Serves the router until the daemon shuts down. A router that can't listen (the port is taken) is a warning in
/// `daemon status`; the daemon goes on supervising.
struct RouterHostService: Service {
    let server: RouterServer
    let address: String
    let manager: InstanceManager
    let requestLog: RouterRequestLog
    let logger: Logger

    func run() async throws {
        let flushing = Task { await requestLog.run() }
        defer { flushing.cancel() }
        do {
            let service = try server.makeService(onRunning: { [logger, address] in
                logger.info("router on http://\(address)")
            })
            try await service.run()
        } catch {
            await manager.warn(
                "the router is not served: cannot listen on \(address): \(RouterServer.describe(listenError: error)); "
                    + "set router.listen in llama-orch.json "
                    + "to a free HOST:PORT, or router.enabled to false")
            try? await gracefulShutdown()
        }
        await server.shutdown()
        requestLog.flush()
    }
}
