import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A private tmux server (its own socket) with one 100×30 pane running a plain shell.
struct TmuxPane {
    let socket = "llama-orch-dash-\(UUID().uuidString.prefix(8))"

    init(directory: String) throws {
        // Not through CommandRunner: the server tmux forks keeps the client's output open, so reading the
        // client's pipes to the end would never finish; and the server must not inherit a blocked SIGTERM.
        let tmux = try CommandRunner.run("/usr/bin/env", ["which", "tmux"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let client = try RecordedProject.spawn(
            tmux,
            [
                "-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "-s", "dash", "-c",
                directory, "env PS1='READY$ ' TERM=xterm-256color bash --norc --noprofile",
            ], log: directory + "/tmux.log")
        var status: Int32 = 0
        _ = waitpid(client, &status, 0)
        guard status == 0 else { throw TmuxError(description: "tmux new-session failed with status \(status)") }
    }

    @discardableResult
    func tmux(_ arguments: [String]) throws -> CommandResult {
        try CommandRunner.run("tmux", ["-L", socket, "-f", "/dev/null"] + arguments)
    }

    /// Types keys (tmux key names: `Enter`, `Escape`, `C-c`, or literal text).
    func send(_ keys: String...) throws {
        try tmux(["send-keys", "-t", "dash"] + keys)
    }

    /// Types text literally, then Enter.
    func type(_ line: String) throws {
        try tmux(["send-keys", "-t", "dash", "-l", line])
        try tmux(["send-keys", "-t", "dash", "Enter"])
    }

    /// What the pane shows now.
    func screen() throws -> String {
        try tmux(["capture-pane", "-p", "-t", "dash"]).stdout
    }

    /// Waits until the pane shows something `condition` accepts; returns the last screen either way.
    @discardableResult
    func wait(seconds: Double = 15, until condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var text = try screen()
        while !condition(text) && Date() < deadline {
            usleep(100_000)
            text = try screen()
        }
        return text
    }

    /// The pid of the pane's shell.
    func shellPID() throws -> pid_t? {
        pid_t(
            try tmux(["display-message", "-p", "-t", "dash", "#{pane_pid}"]).stdout.trimmingCharacters(
                in: .whitespacesAndNewlines))
    }

    func kill() {
        _ = try? tmux(["kill-server"])
    }

    struct TmuxError: Error, CustomStringConvertible {
        var description: String
    }
}

/// The real dashboard in a real terminal (tmux): rows, help, an action from the keyboard, quit, and the
/// terminal given back in the state it was in, also after SIGTERM.
@Suite(.serialized) struct TerminalTests {
    static var hasTmux: Bool { (try? CommandRunner.run("tmux", ["-V"]).status) == 0 }

    @Test(.enabled(if: hasTmux, "needs tmux"))
    func theDashboardRunsInATerminalAndGivesItBack() throws {
        let project = try RecordedProject("dash-tmux")
        defer { project.remove() }
        try project.record()
        let pane = try TmuxPane(directory: project.project.root)
        defer { pane.kill() }
        try pane.wait { $0.contains("READY$") }
        let command = "\(CommandRunner.product("llama-orch")) dashboard --interval 0.5 --devices-file devices.json"
        // The test runner's environment may hold NO_COLOR (it reaches the pane through the tmux server).
        try pane.type("unset NO_COLOR; " + command)

        let table = try pane.wait { $0.contains("alpha") && $0.contains("gamma") && $0.contains("q quit") }
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first?.hasPrefix("llama-orch · daemon not running") == true, "\(table)")
        #expect(!table.contains("READY$"), "the dashboard is on the alternate screen:\n\(table)")
        #expect(table.contains("daemon not running: read-only view from state/state.sqlite"))
        #expect(lines.contains { $0.hasPrefix("> alpha") && $0.contains("healthy") && $0.contains("ok") }, "\(table)")
        #expect(lines.contains { $0.hasPrefix("  beta") && $0.contains("loading") })
        #expect(lines.contains { $0.hasPrefix("  gamma") && $0.contains("failed") && $0.contains("gone") })
        #expect(lines.contains { $0.hasPrefix("  delta") && $0.contains("stopped") })
        #expect(lines.contains { $0.hasPrefix("GPU-A") && $0.contains("1 alpha 1.8G") })
        #expect(lines.count >= 30 && lines.prefix(30).allSatisfy { $0.count <= 100 })

        // A resize (SIGWINCH) redraws at the new size: 80×24, the smallest the dashboard is made for.
        try pane.tmux(["resize-window", "-t", "dash", "-x", "80", "-y", "24"])
        let small = try pane.wait { screen in
            let rows = screen.split(separator: "\n", omittingEmptySubsequences: false)
            return rows.count >= 24 && rows[23].hasPrefix("q quit") && rows.allSatisfy { $0.count <= 80 }
        }
        let smallRows = small.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(smallRows.count >= 24 && smallRows[23].hasPrefix("q quit"), "\(small)")
        #expect(smallRows.allSatisfy { $0.count <= 80 }, "\(small)")
        #expect(smallRows.contains { $0.hasPrefix("> alpha") && $0.contains("healthy") }, "\(small)")
        #expect(smallRows.contains { $0.hasPrefix("  gamma") && $0.contains("failed") })

        let colored = try pane.tmux(["capture-pane", "-p", "-e", "-t", "dash"]).stdout
        #expect(sgrParameters(colored).isSuperset(of: ["1", "7", "32"]), "colours: \(colored.debugDescription)")

        try pane.send("?")
        let help = try pane.wait { $0.contains("take it down (asks to confirm)") }
        #expect(help.contains("cycle the sort"), "\(help)")
        try pane.send("Escape")
        try pane.wait { $0.contains("> alpha") }

        // Down to beta, restart it from the keyboard: without the daemon the view is read-only and says so.
        try pane.send("Down")
        try pane.wait { $0.contains("> beta") }
        try pane.send("r")
        let refused = try pane.wait { $0.contains("the daemon is not running") }
        #expect(refused.contains("start it with 'llama-orch daemon start'"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: project.project.root + "/state/daemon.pid"), "not started")

        // d asks first.
        try pane.send("d")
        try pane.wait { $0.contains("take beta down?") }
        try pane.send("n")
        try pane.wait { $0.contains("beta left running") }

        // Enter opens the detail view with the log tail.
        try pane.send("Enter")
        let detail = try pane.wait { $0.contains("placement") && $0.contains("log ") }
        #expect(detail.contains("one-gpu"), "\(detail)")
        #expect(detail.contains("stub-llama-server"), "the command line: \(detail)")
        try pane.send("Escape")

        try pane.send("q")
        let shell = try pane.wait {
            $0.replacingOccurrences(of: "\n", with: "").contains("--devices-file devices.jsonREADY$")
        }
        #expect(
            shell.replacingOccurrences(of: "\n", with: "").contains("--devices-file devices.jsonREADY$"),
            "the normal screen is back, with the command typed:\n\(shell)")
        #expect(!shell.contains("alpha  "), "nothing of the dashboard is left:\n\(shell)")
        try pane.type("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo END")
        let stty = try pane.wait { $0.contains("isig icanon echo END") }
        #expect(stty.contains("isig icanon echo END"), "\(stty)")
        #expect(!stty.contains("-icanon") && !stty.contains("-echo"), "\(stty)")
    }

    @Test(.enabled(if: hasTmux, "needs tmux"))
    func sigtermRestoresTheTerminal() throws {
        let project = try RecordedProject("dash-sigterm")
        defer { project.remove() }
        let pane = try TmuxPane(directory: project.project.root)
        defer { pane.kill() }
        try pane.wait { $0.contains("READY$") }
        try pane.type(
            "NO_COLOR=1 \(CommandRunner.product("llama-orch")) dashboard --devices-file devices.json; echo EXIT=$?")
        try pane.wait { $0.contains("q quit") }
        let attributes = try pane.tmux(["capture-pane", "-p", "-e", "-t", "dash"]).stdout
        #expect(
            sgrParameters(attributes).isDisjoint(with: ["1", "2", "7", "31", "32", "33", "34", "35", "36", "90"]),
            "NO_COLOR: \(attributes.debugDescription)")
        let shell = try #require(try pane.shellPID())
        let children = (try? String(contentsOfFile: "/proc/\(shell)/task/\(shell)/children", encoding: .utf8)) ?? ""
        let dashboard = try #require(children.split(separator: " ").first.flatMap { pid_t($0) })
        Glibc.kill(dashboard, SIGTERM)
        let after = try pane.wait { $0.range(of: "EXIT=[0-9]", options: .regularExpression) != nil }
        #expect(after.contains("EXIT=143"), "128 + SIGTERM: \(after)")
        #expect(!after.contains("q quit"))
        try pane.type("stty -a | grep -o -- '-\\?icanon' ; echo END")
        let stty = try pane.wait { $0.contains("\nicanon\nEND") || $0.contains("\n-icanon\nEND") }
        #expect(stty.contains("\nicanon\nEND"), "\(stty)")
    }
}

/// Every SGR parameter in `text` (`\e[1;32m` gives 1 and 32).
func sgrParameters(_ text: String) -> Set<String> {
    var parameters: Set<String> = []
    for part in text.components(separatedBy: "\u{1B}[").dropFirst() {
        guard let end = part.firstIndex(where: { !($0.isNumber || $0 == ";") }), part[end] == "m" else { continue }
        for parameter in part[..<end].split(separator: ";") { parameters.insert(String(parameter)) }
    }
    return parameters
}
