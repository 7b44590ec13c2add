import ControlAPI
import Foundation
import OrchestratorCore
import StateStore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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

/// What the tests read of processes from `/proc`.
enum FaultProcess {
    /// The process group of `pid`, or `nil` when it is gone.
    static func group(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 ? Int32(fields[2]) : nil
    }

    /// Live processes of process group `group`.
    static func members(of group: Int32) -> [Int32] {
        DaemonHarness.liveProcesses().filter { self.group(of: $0) == group }
    }

    /// The value of marker `LLAMA_ORCH_INSTANCE` in the environment of `pid`.
    static func instance(of pid: Int32) -> String? {
        guard let environment = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { return nil }
        for entry in environment.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if text.hasPrefix("LLAMA_ORCH_INSTANCE=") { return String(text.dropFirst("LLAMA_ORCH_INSTANCE=".count)) }
        }
        return nil
    }

    /// Daemons of `root`: processes running `llama-orch daemon start --foreground` with `--root root`.
    static func daemons(of root: String) -> [Int32] {
        DaemonHarness.liveProcesses().filter { pid in
            guard let bytes = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
            let argv = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return argv.contains("daemon") && argv.contains("--foreground") && argv.contains(root)
        }
    }
}

/// Seconds since 1970, as the daemon stamps its events.
func epochNow() -> Double { Date().timeIntervalSince1970 }
