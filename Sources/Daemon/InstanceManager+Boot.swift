import ControlAPI
import Foundation
import Host
import Logging
import OrchestratorCore
import StateStore
import Supervisor

// What the daemon does once when it starts: re-adopt the servers an earlier daemon left running, then start
// what should run with it.
extension InstanceManager {
    /// Re-adopts the servers a previous daemon left running, closes the runs whose process is gone, and
    /// reports marked processes of this root that no run records. Restarts nothing.
    ///
    /// A store that has recorded nothing yet is new: a damaged one was moved aside, or the file was removed. The
    /// servers of this root still running then lost their records, not their owner: each is recorded again from
    /// its markers and start time (`rebuildRuns`) and re-adopted like any open run.
    public func recover() async {
        if (try? store.eventCount()) == 0 { rebuildRuns() }
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
                environment.removeValue(forKey: ProcessMarker.instance)
                environment.removeValue(forKey: ProcessMarker.run)
                let spec = LaunchSpec(
                    argv: run.argv, environment: environment, host: config?.server.host ?? "127.0.0.1", port: run.port,
                    placement: run.placement, backend: run.backend, workingDirectory: root.path,
                    fingerprint: run.fingerprint)
                do {
                    let supervisor = try makeSupervisor(run.instance, config: config, spec: spec)
                    try await supervisor.adopt(run)
                    entries[run.instance] = Entry(
                        supervisor: supervisor, config: config, backend: run.backend)
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
        restoreRouterOwnership()
        for process in unrecordedProcesses() {
            let message =
                "pid \(process.pid) (group \(process.processGroup)) carries instance \(process.instance)'s marker but no run records it; 'llama-orch down --all' stops it"
            warn(message)
            record(process.instance, "unrecorded", message)
        }
    }

    /// Records a run again for every server of this root that carries a run marker no run records: the leader of
    /// its process group (what the supervisor spawned; a helper it forked goes with it), of an instance with a
    /// valid config. Its pid, group and start time come from `/proc`, as do its command line and environment; the
    /// port from its `--port` (else the config's); the placement is unknown. The desired state becomes `running`.
    private func rebuildRuns() {
        for process in unrecordedProcesses()
        where process.pid == process.processGroup && !process.runID.isEmpty {
            guard let config = validator.validate(instance: process.instance, in: root).config,
                let argv = ProcFS.commandLine(process.pid), let environment = ProcFS.environment(process.pid)
            else { continue }
            let port = argv.firstIndex(of: "--port").flatMap { argv.indices.contains($0 + 1) ? Int(argv[$0 + 1]) : nil }
            let run = RunInfo(
                instance: process.instance, runID: process.runID, pid: process.pid, processGroup: process.processGroup,
                processStartTime: process.startTime, port: port ?? config.server.port, argv: argv,
                environment: environment,
                startedAt: ProcFS.epochSeconds(ofStartTime: process.startTime) ?? Date().timeIntervalSince1970)
            do {
                _ = try store.recordRunStart(run)
                try store.setDesiredState(.running, for: process.instance)
            } catch {
                warn("\(process.instance): cannot record pid \(process.pid) again: \(error)")
                continue
            }
            record(
                process.instance, "run-rebuilt",
                "pid \(process.pid) of run \(process.runID) recorded again from its marker and start time (the state "
                    + "store was new)")
        }
    }

    /// Marked processes started in this root (their working folder) that no open run records.
    func unrecordedProcesses() -> [MarkedProcess] {
        let known = (try? store.openRuns()) ?? []
        // /proc shows the working folder with symbolic links resolved.
        let folder = URL(fileURLWithPath: root.path).resolvingSymlinksInPath().path
        return ProcessIdentity.unrecorded(knownRuns: known).filter { process in
            let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.pid)/cwd")
            return cwd == root.path || cwd == folder
        }
    }

    /// Starts what should run with the daemon: configs with `"autostart": true`, and instances whose desired
    /// state is `running` when their restart policy says so (not those the router started: it starts them again
    /// on demand); one at a time per device.
    public func autostart() async {
        let desired = (try? store.desiredStates()) ?? [:]
        let routerStarted = (try? store.startedByRouter()) ?? []
        var names: [String] = []
        for name in configuredNames() {
            guard let config = try? validator.validate(instance: name, in: root).get() else { continue }
            let wanted = routerStarted.contains(name) ? .stopped : desired[name] ?? .stopped
            let startsWithDaemon =
                (try? policies.lookup(config.restartPolicy.type))?.startsWithDaemon(
                    desiredState: wanted) ?? false
            if config.autostart || startsWithDaemon { names.append(name) }
        }
        guard !names.isEmpty else { return }
        logger.info("autostart: \(names.joined(separator: ", "))")
        do {
            // A daemon's start re-adopts what runs as it is: only `up` applies changed configs.
            let response = try await up(InstancesRequest(names: names, recreate: .never))
            for outcome in response.outcomes where outcome.result == .failed {
                warn("autostart \(outcome.name): \(outcome.message)")
            }
        } catch {
            warn("autostart: \(error)")
        }
    }
}
