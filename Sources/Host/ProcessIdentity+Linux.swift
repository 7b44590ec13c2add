import OrchestratorCore

/// Decides whether a process is one of ours, so that a re-adopting daemon never signals a stranger.
///
/// A recorded run is ours only if all three match: the pid exists, its start time (`/proc/<pid>/stat`
/// field 22) equals the recorded one (a reused pid has a later start time), and its environment carries the
/// run's markers. Any doubt (unreadable `/proc`, a missing field) answers "not ours".
public enum ProcessIdentity {
    /// Whether the process recorded in `run` is still the server that run started.
    public static func matches(run: RunInfo) -> Bool {
        guard run.pid > 0, let stat = ProcFS.stat(run.pid), stat.state != "Z",
            stat.startTime == run.processStartTime,
            let environment = ProcFS.environment(run.pid)
        else { return false }
        return environment[ProcessMarker.run] == run.runID
            && environment[ProcessMarker.instance] == run.instance
    }

    /// Whether `pid` is a process that runs: it exists and is neither a zombie nor dead.
    public static func isLive(_ pid: Int32) -> Bool {
        guard pid > 0, let state = ProcFS.stat(pid)?.state else { return false }
        return state != "Z" && state != "X"
    }

    /// The start time of a process in clock ticks since boot, or `nil` when it is gone.
    public static func startTime(of pid: Int32) -> UInt64? {
        ProcFS.stat(pid)?.startTime
    }

    /// Every live process that carries an instance marker in its environment.
    ///
    /// Children of a server inherit the markers, so a server that forked shows up more than once; the process
    /// group tells them apart.
    public static func markedProcesses() -> [MarkedProcess] {
        ProcFS.allPIDs().compactMap { pid in
            guard let environment = ProcFS.environment(pid), let instance = environment[ProcessMarker.instance],
                let stat = ProcFS.stat(pid), stat.state != "Z"
            else { return nil }
            return MarkedProcess(
                pid: pid, processGroup: stat.processGroup, startTime: stat.startTime, instance: instance,
                runID: environment[ProcessMarker.run] ?? "")
        }
    }

    /// Marked processes whose run id no recorded run has: servers a crashed daemon started but never
    /// recorded, or leftovers of a deleted state store.
    public static func unrecorded(knownRuns: [RunInfo]) -> [MarkedProcess] {
        let known = Set(knownRuns.map(\.runID))
        return markedProcesses().filter { !known.contains($0.runID) }
    }

    /// Stops the recorded run's process group if, and only if, the run is still ours.
    ///
    /// - Returns: whether the process was ours and has been stopped; a foreign process is left alone.
    public static func stopIfOurs(run: RunInfo, grace: Duration) async -> Bool {
        // The server leads its group; a group it has left (it can't, but a foreign pid could) is not signalled.
        guard matches(run: run), ProcFS.stat(run.pid)?.processGroup == run.processGroup else { return false }
        await ProcessGroupTerminator.stop(group: run.processGroup, grace: grace)
        return true
    }
}

/// A live process carrying the `LLAMA_ORCH_INSTANCE` marker.
public struct MarkedProcess: Sendable, Equatable {
    public var pid: Int32
    public var processGroup: Int32
    /// Clock ticks since boot (`/proc/<pid>/stat` field 22), as `RunInfo.processStartTime` records it.
    public var startTime: UInt64
    /// The value of `LLAMA_ORCH_INSTANCE`.
    public var instance: String
    /// The value of `LLAMA_ORCH_RUN_ID` (empty when missing).
    public var runID: String
}

/// The environment variables that mark a server as llama-orch's: the daemon puts them in every server's
/// environment, and `ProcessIdentity` reads them back from `/proc/<pid>/environ`.
public enum ProcessMarker {
    /// Names the instance a process belongs to.
    public static let instance = "LLAMA_ORCH_INSTANCE"
    /// Holds the run's id (`RunInfo.runID`).
    public static let run = "LLAMA_ORCH_RUN_ID"
}
