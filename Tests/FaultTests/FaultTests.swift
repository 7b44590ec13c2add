import ControlAPI
import Foundation
import Host
import OrchestratorCore
import StateStore
import TestSupport
import Testing

/// The failures users meet, end to end: the daemon and the CLI as built, with the stub or the real llama-server.
/// One suite, serialized: every test runs a daemon and servers, and the timing bounds want the machine to themselves.
/// The README's "What it survives" table lists each scenario with its test.
@Suite(.serialized) struct FaultTests {}

extension DaemonHarness {
    /// The instance's events in the state store, oldest first.
    func events(_ instance: String) throws -> [InstanceEvent] {
        try store().events(of: instance, limit: 1000)
    }

    /// The times of the instance's state changes into `state`, oldest first.
    func times(_ instance: String, into state: InstanceStatus.State) throws -> [Double] {
        try events(instance).filter { $0.kind == "state" && $0.details["to"] == state.rawValue }.map(\.time)
    }

    /// The times of the instance's events of `kind` (`started`, `exited`), oldest first.
    func times(_ instance: String, of kind: String) throws -> [Double] {
        try events(instance).filter { $0.kind == kind }.map(\.time)
    }

    /// `ps -a --json`'s entry for one instance.
    func status(_ name: String) throws -> InstanceStatus? {
        try ps().first { $0.name == name }
    }

    /// Each instance's name and state, for a failure's message.
    func summary() -> Comment {
        Comment(rawValue: (try? ps().map { "\($0.name) \($0.state.rawValue)" }.joined(separator: ", ")) ?? "ps failed")
    }

    /// The process groups of this root's marked processes: one per server (a server leads its own group).
    func markedGroups() -> Set<Int32> {
        Set(markedProcesses().compactMap(FaultProcess.group(of:)))
    }
}

/// What the tests read of processes, through Host's `/proc` reader.
enum FaultProcess {
    /// The process group of `pid`, or `nil` when it is gone.
    static func group(of pid: Int32) -> Int32? {
        ProcFS.stat(pid)?.processGroup
    }

    /// Live processes of process group `group`.
    static func members(of group: Int32) -> [Int32] {
        ProcFS.livingMembers(ofGroup: group)
    }

    /// The instance marker in the environment of `pid`.
    static func instance(of pid: Int32) -> String? {
        ProcFS.environment(pid)?[ProcessMarker.instance]
    }

    /// Daemons of `root`: live processes running `llama-orch daemon start --foreground --root ROOT`.
    static func daemons(of root: String) -> [Int32] {
        DaemonHarness.liveProcesses().filter { pid in
            guard let argv = ProcFS.commandLine(pid) else { return false }
            return argv.contains("daemon") && argv.contains("--foreground") && argv.contains(root)
        }
    }
}

/// Seconds since 1970, as the daemon stamps its events.
func epochNow() -> Double { Date().timeIntervalSince1970 }
