import ControlAPI
import Daemon
import Foundation
import OrchestratorCore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct DaemonLifecycleTests {
    @Test func oneDaemonPerRootWithPidFileLockAndPrivateSocket() async throws {
        let harness = try DaemonHarness("daemon-life")
        defer { harness.cleanUp() }
        let started = try harness.ok(["daemon", "start"])
        #expect(started.stdout.contains("started the daemon (pid"), "\(started.stdout)")
        let pid = try #require(harness.daemonPID)
        #expect(DaemonHarness.isAlive(pid))
        let socket = harness.root + "/state/daemon.sock"
        // Through FileManager: `struct stat`'s fields are sometimes not visible here (MemberImportVisibility
        // attributes them to CDispatch in some builds).
        let info = try FileManager.default.attributesOfItem(atPath: socket)
        #expect(info[.type] as? FileAttributeType == .typeSocket)
        #expect(info[.posixPermissions] as? Int == 0o600)

        let again = try harness.ok(["daemon", "start"])
        #expect(again.stdout.contains("already runs (pid \(pid))"), "\(again.stdout)")
        // A second daemon for the same root is refused by the lock, whatever the socket says.
        let second = try harness.cli(["daemon", "start", "--foreground"])
        #expect(second.status == 69)
        #expect(second.stderr.contains("already runs for"), "\(second.stderr)")

        let status = try harness.ok(["daemon", "status", "--json"])
        let described = try JSONDecoder.snakeCase.decode(DaemonInfo.self, from: Data(status.stdout.utf8))
        #expect(described.pid == pid)
        let object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(object?["running"] as? Bool == true, "\(status.stdout)")
        #expect(described.root == harness.root)

        // The API answers curl too.
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        let curl = try CommandRunner.run(
            "curl", ["-sS", "--unix-socket", socket, "http://localhost/v1/instances?all=1"])
        #expect(curl.status == 0, "\(curl.stderr)")
        let listed = try JSONDecoder.snakeCase.decode([InstanceStatus].self, from: Data(curl.stdout.utf8))
        #expect(listed.map(\.name) == ["alpha"])
        #expect(listed.first?.state == .stopped)
        let missing = try CommandRunner.run(
            "curl", ["-sS", "-w", "\n%{http_code}", "--unix-socket", socket, "http://localhost/v1/instances/nope"])
        #expect(missing.stdout.hasSuffix("404"), "\(missing.stdout)")
        // A body the API can't read is answered like every error: a message and the usage exit code.
        let malformed = try CommandRunner.run(
            "curl", ["-sS", "--unix-socket", socket, "-X", "POST", "-d", "{names", "http://localhost/v1/up"])
        let refusal = try JSONDecoder().decode(ErrorBody.self, from: Data(malformed.stdout.utf8))
        #expect(refusal.exitCode == 64)
        #expect(refusal.message.contains("invalid JSON body for /v1/up"), "\(refusal.message)")

        let stopped = try harness.ok(["daemon", "stop"])
        #expect(stopped.stdout.contains("stopped the daemon (pid \(pid))"))
        #expect(!DaemonHarness.isAlive(pid))
        #expect(!harness.project.exists("state/daemon.sock"))
        #expect(!harness.project.exists("state/daemon.pid"))
        let down = try harness.cli(["daemon", "status"])
        #expect(down.status == 69)
        let downJSON = try harness.cli(["daemon", "status", "--json"])
        #expect(downJSON.status == 69)
        let downObject = try JSONSerialization.jsonObject(with: Data(downJSON.stdout.utf8)) as? [String: Any]
        #expect(downObject?.count == 1 && downObject?["running"] as? Bool == false, "\(downJSON.stdout)")
    }

    @Test func theDaemonRaisesItsOpenFileLimitToTheHardLimit() async throws {
        let harness = try DaemonHarness("daemon-nofile")
        defer { harness.cleanUp() }
        // Started with a soft limit far under the hard one, as a login shell has it (1,024 of 524,288 under systemd).
        let started = try CommandRunner.run(
            "prlimit",
            ["--nofile=256:4096", CommandRunner.product("llama-orch"), "daemon", "start", "--root", harness.root])
        try #require(started.status == 0, "daemon start exited \(started.status): \(started.stderr)")
        let pid = try #require(harness.daemonPID)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        let line = try #require(limits.split(separator: "\n").first { $0.hasPrefix("Max open files") })
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.dropFirst(3).prefix(2) == ["4096", "4096"], "\(line)")
        let log = try #require(harness.project.read("logs/daemon.log"))
        #expect(log.contains("open-file limit 4096"), "\(log)")
    }

    @Test func aStateStoreThatCannotBeWrittenStopsTheDaemonAtStartWithTheReason() async throws {
        let harness = try DaemonHarness("daemon-readonly-store")
        defer { harness.cleanUp() }
        try harness.ok(["daemon", "start"])
        try harness.ok(["daemon", "stop"])
        let store = harness.root + "/state/state.sqlite"
        // Made unwritable the way a user meets it: root ignores permissions, so an immutable file there.
        let locked =
            getuid() == 0
            ? try CommandRunner.run("chattr", ["+i", store]) : try CommandRunner.run("chmod", ["0444", store])
        try #require(locked.status == 0, "cannot make \(store) unwritable: \(locked.stderr)")
        defer { _ = try? CommandRunner.run("chattr", ["-i", store]) }
        let started = ContinuousClock.now
        let refused = try harness.cli(["daemon", "start"])
        #expect(refused.status == 69, "\(refused.stdout)\(refused.stderr)")
        #expect(
            refused.stderr.contains(
                "the state store \(store) cannot be written (attempt to write a readonly database)"),
            "\(refused.stderr)")
        // Told as soon as the daemon exits, not after the 30 s wait for an answer.
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(harness.daemonPID.map(DaemonHarness.isAlive) != true)
    }

    @Test func aDaemonWhoseExecutableWasReplacedSaysSoAndSoDoesEveryCommand() async throws {
        let harness = try DaemonHarness("daemon-replaced")
        defer { harness.cleanUp() }
        // The CLI installed somewhere of its own, so that the test can replace it as an upgrade would.
        let installed = harness.root + "/bin/llama-orch"
        try FileManager.default.createDirectory(atPath: harness.root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CommandRunner.product("llama-orch"), toPath: installed)
        let run = { (arguments: [String]) throws -> CommandResult in
            try CommandRunner.run(installed, arguments + ["--root", harness.root])
        }
        let started = try run(["daemon", "start"])
        try #require(started.status == 0, "\(started.stderr)")
        let pid = try #require(harness.daemonPID)
        let before = try run(["ps"])
        #expect(before.status == 0 && !before.stderr.contains("replaced"), "\(before.stderr)")
        let quiet = try JSONDecoder.snakeCase.decode(
            DaemonInfo.self, from: Data(try run(["daemon", "status", "--json"]).stdout.utf8))
        #expect(quiet.warnings.isEmpty, "\(quiet.warnings)")

        // An upgrade: the file is removed and a new one put in its place; the daemon still runs the old one.
        try FileManager.default.removeItem(atPath: installed)
        try FileManager.default.copyItem(atPath: CommandRunner.product("llama-orch"), toPath: installed)
        let warning = DaemonExecutable.replacedWarning(pid: pid, path: installed)
        #expect(DaemonExecutable.replacedPath(of: pid) == installed)
        let after = try run(["ps"])
        #expect(after.status == 0)
        #expect(after.stderr.contains("llama-orch: warning: \(warning)"), "\(after.stderr)")
        let status = try run(["daemon", "status"])
        #expect(status.stdout.contains("warning: \(warning)"), "\(status.stdout)")
        let described = try JSONDecoder.snakeCase.decode(
            DaemonInfo.self, from: Data(try run(["daemon", "status", "--json"]).stdout.utf8))
        #expect(described.warnings == [warning])

        // As the warning says: stopped (servers kept) and started again by the next command, it is quiet.
        #expect(try run(["daemon", "stop", "--keep-instances"]).status == 0)
        let fresh = try run(["ps"])
        #expect(fresh.status == 0 && fresh.stderr.contains("started the daemon"), "\(fresh.stderr)")
        #expect(!fresh.stderr.contains("replaced"), "\(fresh.stderr)")
        #expect(harness.daemonPID != pid)
    }

    @Test func aDaemonLogGrownPastTenMiBIsRotatedAndTheDaemonWritesAFreshOne() async throws {
        let harness = try DaemonHarness("daemon-log")
        defer { harness.cleanUp() }
        let log = harness.root + "/logs/daemon.log"
        try FileManager.default.createDirectory(atPath: harness.root + "/logs", withIntermediateDirectories: true)
        // What months of an earlier daemon left: a little over 10 MiB.
        let old = String(repeating: "an old line of an earlier daemon\n", count: 330_000)
        try old.write(toFile: log, atomically: false, encoding: .utf8)
        try harness.ok(["daemon", "start"])
        let pid = try #require(harness.daemonPID)
        let rotated = try String(contentsOfFile: log + ".1", encoding: .utf8)
        #expect(rotated.utf8.count >= old.utf8.count)
        #expect(rotated.hasPrefix("an old line"))
        #expect(
            try await DaemonHarness.eventually {
                ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("daemon \(pid) starting")
            })
        let fresh = try String(contentsOfFile: log, encoding: .utf8)
        #expect(!fresh.contains("an old line"))
        #expect(fresh.utf8.count < 64 << 10)
        try harness.ok(["daemon", "stop"])
    }

    @Test func aRootTooDeepForAUnixSocketPathStillGetsItsDaemon() async throws {
        // state/daemon.sock under this root is longer than the 107 bytes a unix socket address holds.
        let harness = try DaemonHarness(String(repeating: "a-deep-folder-", count: 7))
        defer { harness.cleanUp() }
        let socket = harness.root + "/state/daemon.sock"
        try #require(socket.utf8.count > 107, "\(socket.utf8.count) bytes")
        let port = try LlamaServerProbe.freePort()
        try harness.stubInstance("alpha", port: port)
        let up = try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        #expect(up.stdout.contains("alpha: healthy after"), "\(up.stdout)")
        #expect(try FileManager.default.attributesOfItem(atPath: socket)[.type] as? FileAttributeType == .typeSocket)
        #expect(try harness.ps().first { $0.name == "alpha" }?.state == .healthy)
        try harness.ok(["down", "alpha"])
        try harness.ok(["daemon", "stop"])
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test func sigtermDetachesAndTheNextDaemonReadopts() async throws {
        let harness = try DaemonHarness("daemon-term")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        let up = try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        #expect(up.stderr.contains("started the daemon (pid"), "\(up.stderr)")
        let server = try #require(try harness.ps().first { $0.name == "alpha" }?.pid)
        let daemon = try #require(harness.daemonPID)
        kill(daemon, SIGTERM)
        #expect(try await DaemonHarness.eventually { !DaemonHarness.isAlive(daemon) })
        #expect(DaemonHarness.isAlive(server), "SIGTERM must leave the servers running")
        try harness.ok(["daemon", "start"])
        let adopted = try #require(try harness.ps().first { $0.name == "alpha" })
        #expect(adopted.pid == server)
        try harness.ok(["daemon", "stop"])
        #expect(try await DaemonHarness.eventually { harness.markedProcesses().isEmpty })
    }

    @Test func autostartAndDesiredStateBringInstancesBackWithTheDaemon() async throws {
        let harness = try DaemonHarness("daemon-auto")
        defer { harness.cleanUp() }
        try harness.stubInstance("marked", port: try LlamaServerProbe.freePort(), extra: #", "autostart": true"#)
        try harness.stubInstance("manual", port: try LlamaServerProbe.freePort())
        try harness.stubInstance("idle", port: try LlamaServerProbe.freePort())
        try harness.ok(["daemon", "start"])
        #expect(
            try await DaemonHarness.eventually {
                try harness.ps().first { $0.name == "marked" }?.state == .healthy
            })
        try harness.ok(["up", "manual", "--wait", "--timeout", "30"])
        // `daemon stop` stops the servers but keeps what the user asked: the next daemon brings both back.
        try harness.ok(["daemon", "stop"])
        #expect(harness.markedProcesses().isEmpty)
        try harness.ok(["daemon", "start"])
        #expect(
            try await DaemonHarness.eventually {
                let states = try harness.ps()
                return states.first { $0.name == "marked" }?.state == .healthy
                    && states.first { $0.name == "manual" }?.state == .healthy
            })
        #expect(try harness.ps().first { $0.name == "idle" }?.state == .stopped)
        let health = try harness.ok(["health", "--all", "--json"]).stdout
        let statuses = try JSONDecoder.snakeCase.decode([InstanceStatus].self, from: Data(health.utf8))
        #expect(Set(statuses.map(\.name)) == ["marked", "manual"])
        try harness.ok(["down", "--all"])
        #expect(harness.markedProcesses().isEmpty)
    }
}
