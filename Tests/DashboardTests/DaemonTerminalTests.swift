import ControlAPI
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The dashboard on a running daemon, in a real terminal (tmux): two stub instances started with `up --all
/// --wait`, both rows shown live, one restarted from the keyboard (a new server pid), quit, the terminal
/// given back; the daemon stopped and nothing of the project left running.
@Suite(.serialized) struct DaemonTerminalTests {
    @Test(.enabled(if: TerminalTests.hasTmux, "needs tmux"))
    func theDashboardRestartsAnInstanceThroughTheDaemon() async throws {
        let project = try TemporaryProject("dash-daemon")
        let root = project.root
        defer {
            _ = try? CommandRunner.llamaOrch(["daemon", "stop", "--timeout", "20", "--root", root])
            for pid in Self.processes(of: root) { kill(pid, SIGKILL) }
            project.remove()
        }
        let model = try CommandRunner.run(
            CommandRunner.product("make-tiny-model"), ["--kind", "dense", "--out", root + "/models/dense.gguf"])
        try #require(model.status == 0, "make-tiny-model failed: \(model.stderr)")
        for name in ["one", "two"] {
            try project.writeConfig(
                name,
                """
                {"name": "\(name)", "model": {"path": "../../models/dense.gguf", "context_size": 256},
                 "server": {"port": \(try LlamaServerProbe.freePort())}, "gpu": {"backend": "cpu"},
                 "binary": {"path": "\(CommandRunner.product("stub-llama-server"))"},
                 "healthcheck": {"interval": 0.1, "timeout": 1, "retries": 3, "start_period": 10},
                 "restart_policy": {"initial_delay": 0.1, "max_delay": 1, "jitter": 0},
                 "args": ["--log-interval", "0.2"]}
                """)
        }
        let up = try CommandRunner.llamaOrch(["up", "--all", "--wait", "--timeout", "60", "--root", root])
        try #require(up.status == 0, "up --all --wait exited \(up.status): \(up.stdout) \(up.stderr)")
        let before = try Self.ps(root)
        let firstPID = try #require(before["one"]?.pid)
        let otherPID = try #require(before["two"]?.pid)

        let pane = try TmuxPane(directory: root)
        defer { pane.kill() }
        try pane.wait { $0.contains("READY$") }
        try pane.type(
            "unset NO_COLOR; \(CommandRunner.product("llama-orch")) dashboard --interval 0.5 --root \(root)")
        let table = try pane.wait { screen in
            screen.contains("> one") && screen.contains("  two") && screen.contains("q quit")
                && screen.contains("\(firstPID)") && screen.contains("\(otherPID)")
        }
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.contains("daemon running (pid") == true, "\(table)")
        #expect(!table.contains("read-only"), "\(table)")
        #expect(!table.contains("READY$"), "the dashboard is on the alternate screen:\n\(table)")
        for (name, pid) in [("one", firstPID), ("two", otherPID)] {
            #expect(
                lines.contains { $0.dropFirst(2).hasPrefix(name) && $0.contains("healthy") && $0.contains("\(pid)") },
                "\(name): \(table)")
        }

        // r on the selected row (one): the daemon stops its server and starts a new one.
        try pane.send("r")
        let restarted = try pane.wait(seconds: 30) { $0.contains("one: restarted") }
        #expect(restarted.contains("one: restarted"), "\(restarted)")
        var newPID: Int32?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let now = try Self.ps(root)
            if let pid = now["one"]?.pid, pid != firstPID, now["one"]?.state == .healthy {
                newPID = pid
                break
            }
            usleep(200_000)
        }
        let replaced = try #require(newPID, "one got no new healthy server")
        #expect(try Self.ps(root)["two"]?.pid == otherPID, "two was left alone")
        let shown = try pane.wait { screen in
            screen.split(separator: "\n").contains { $0.contains("one") && $0.contains("\(replaced)") }
        }
        #expect(
            shown.split(separator: "\n").contains { $0.contains("one") && $0.contains("\(replaced)") },
            "the new pid is shown: \(shown)")

        try pane.send("q")
        let shell = try pane.wait { $0.replacingOccurrences(of: "\n", with: "").contains("\(root)READY$") }
        #expect(
            shell.replacingOccurrences(of: "\n", with: "").contains("\(root)READY$"),
            "the normal screen is back, with the command typed:\n\(shell)")
        #expect(!shell.contains("q quit"), "nothing of the dashboard is left:\n\(shell)")
        try pane.type("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo END")
        let stty = try pane.wait { $0.contains("isig icanon echo END") }
        #expect(stty.contains("isig icanon echo END"), "\(stty)")

        let stop = try CommandRunner.llamaOrch(["daemon", "stop", "--timeout", "20", "--root", root])
        #expect(stop.status == 0, "\(stop.stdout) \(stop.stderr)")
        let gone = Date().addingTimeInterval(10)
        while !Self.processes(of: root).isEmpty && Date() < gone { usleep(100_000) }
        #expect(Self.processes(of: root).isEmpty, "nothing of the project is left running")
    }

    /// `ps -a --json`, by name.
    static func ps(_ root: String) throws -> [String: InstanceStatus] {
        let result = try CommandRunner.llamaOrch(["ps", "-a", "--json", "--root", root])
        try #require(result.status == 0, "ps exited \(result.status): \(result.stderr)")
        let list = try JSONDecoder().decode([InstanceStatus].self, from: Data(result.stdout.utf8))
        return Dictionary(list.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Live processes of the project: the daemon (by its pid file) and the servers (their working folder is
    /// the root and they carry an instance marker).
    static func processes(of root: String) -> [Int32] {
        var found: [Int32] = []
        if let text = try? String(contentsOfFile: root + "/state/daemon.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), isAlive(pid)
        {
            found.append(pid)
        }
        let all = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        for pid in all where isAlive(pid) {
            guard let environment = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")),
                String(decoding: environment, as: UTF8.self).contains("LLAMA_ORCH_INSTANCE="),
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) == root
            else { continue }
            found.append(pid)
        }
        return found
    }

    /// Whether `pid` runs (zombies count as gone).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }
}
