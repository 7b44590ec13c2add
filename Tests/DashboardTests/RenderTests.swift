import ControlAPI
import Foundation
import OrchestratorCore
import Testing

@testable import Dashboard

/// The text of a rendered line as the terminal shows it: SGR codes removed.
func visible(_ line: String) -> String {
    line.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
}

@Suite struct RenderTests {
    static let sizes = [
        TerminalSize(rows: 24, columns: 80), TerminalSize(rows: 40, columns: 120), TerminalSize(rows: 15, columns: 60),
        // Too small to be useful, but nothing may break: the frame still fills the screen exactly.
        TerminalSize(rows: 5, columns: 20), TerminalSize(rows: 1, columns: 1),
    ]

    @Test(arguments: sizes)
    func everyLineFillsTheWidthExactlyAndTheFrameFillsTheScreen(size: TerminalSize) {
        let snapshots = [
            SnapshotFixtures.busy(), SnapshotFixtures.readOnly(), SnapshotFixtures.crowded(60),
            DashboardSnapshot(time: 0, daemon: DaemonStatus(running: false, summary: "not running")),
        ]
        let views: [DashboardState.View] = [.table, .detail, .logs, .help]
        for snapshot in snapshots {
            for view in views {
                for color in [false, true] {
                    let lines = DashboardRenderer.render(
                        snapshot, state: DashboardState(view: view), size: size, color: color)
                    #expect(lines.count == size.rows, "\(view) \(size)")
                    for line in lines {
                        #expect(TerminalText.width(of: visible(line)) == size.columns, "\(view) \(size): '\(line)'")
                        if !color { #expect(!line.contains("\u{1B}"), "colour off but SGR in '\(line)'") }
                    }
                }
            }
        }
    }

    @Test func theTableAt80x24ShowsHeaderGaugesAndEveryInstance() {
        let lines = DashboardRenderer.render(
            SnapshotFixtures.busy(), state: DashboardState(), size: TerminalSize(rows: 24, columns: 80), color: false)
        #expect(lines[0].hasPrefix("llama-orch · daemon running (pid 900)"))
        #expect(lines[0].hasSuffix("08:00:00 UTC"))  // 1_800_000_000 is 08:00:00 UTC
        #expect(lines[1].hasPrefix("4 instances: 1 failed, 1 restarting, 1 loading, 1 healthy"))
        let gpu = lines.first { $0.hasPrefix("Vulkan0") } ?? ""
        #expect(gpu.hasPrefix("Vulkan0  [111222222++.....] 17G/24G free 7.0G · 1 chat 5.0G · 2 code 9.0G"), "\(gpu)")
        #expect(lines.first { $0.hasPrefix("host") }?.contains("[1") == true)
        let heading = lines.first { $0.contains("NAME") } ?? ""
        for title in ["STATE", "MEM EST/REP", "RST", "MODEL", "BACKEND:DEV", "HEALTH"] {
            #expect(heading.contains(title), "\(title) missing at 80 columns: \(heading)")
        }
        let chat = lines.first { $0.hasPrefix("> chat") } ?? ""
        #expect(chat.contains("healthy"), "\(chat)")
        #expect(chat.contains("6.0G/6.2G"), "\(chat)")
        #expect(chat.contains("vulkan:Vulkan0"))
        let embed = lines.first { $0.hasPrefix("  embed") } ?? ""
        #expect(embed.contains("failed"))
        #expect(embed.contains("-/-"))
        let flaky = lines.first { $0.hasPrefix("  flaky") } ?? ""
        #expect(flaky.contains("restarting"))
        #expect(lines[23].hasPrefix("q quit  ? help  Enter detail  s sort:name  / filter  r restart  d down  u up"))
    }

    @Test func wideScreensShowEveryColumnAndNarrowOnesTheImportantOnes() {
        let wide = DashboardRenderer.render(
            SnapshotFixtures.busy(), state: DashboardState(), size: TerminalSize(rows: 40, columns: 120), color: false)
        let heading = wide.first { $0.contains("NAME") } ?? ""
        for title in ["PID", "PORT", "UPTIME", "CTX×SLOTS"] { #expect(heading.contains(title), "\(heading)") }
        let chat = wide.first { $0.hasPrefix("> chat") } ?? ""
        #expect(chat.contains("4101"))
        #expect(chat.contains("8001"))
        #expect(chat.contains("3h02m"))
        #expect(chat.contains("8192×4"))
        #expect(chat.contains("llama-3.1-8b-instruct"))

        let narrow = DashboardRenderer.render(
            SnapshotFixtures.busy(), state: DashboardState(), size: TerminalSize(rows: 15, columns: 60), color: false)
        let narrowHeading = narrow.first { $0.contains("NAME") } ?? ""
        for title in ["STATE", "MEM EST/REP", "RST"] { #expect(narrowHeading.contains(title), "\(narrowHeading)") }
        #expect(!narrowHeading.contains("CTX"))
        #expect(narrow.contains { $0.hasPrefix("  flaky") })
        #expect(narrow.contains { $0.hasPrefix("Vulkan0") && $0.hasSuffix("…") }, "long lines are cut, not wrapped")
    }

    @Test func theRouterColumnsShowWhoStartedAnInstanceItsRequestsAndItsTokensPerSecond() {
        var snapshot = SnapshotFixtures.busy()
        // Without the router, no router columns, however wide the screen.
        let plain = DashboardRenderer.render(
            snapshot, state: DashboardState(), size: TerminalSize(rows: 40, columns: 200), color: false)
        #expect(!(plain.first { $0.contains("NAME") } ?? "").contains("ROUTER"))
        snapshot.instances[0].router = RouterInstanceStatus(
            status: "loaded", startedByRouter: true, inFlight: 2, queued: 1, unloadAt: snapshot.time + 540)
        snapshot.instances[0].traffic = RouterTraffic(window: 60, requests: 30, completionTokens: 1500)
        snapshot.instances[1].router = RouterInstanceStatus(
            status: "loading", startedByRouter: false, inFlight: 0, queued: 0, unloadAt: nil)
        let wide = DashboardRenderer.render(
            snapshot, state: DashboardState(), size: TerminalSize(rows: 40, columns: 200), color: false)
        let heading = wide.first { $0.contains("NAME") } ?? ""
        #expect(heading.contains("ROUTER") && heading.contains("REQ/S TOK/S"), "\(heading)")
        let chat = wide.first { $0.hasPrefix("> chat") } ?? ""
        #expect(chat.contains("router, 2 busy, 1 queued, unload in 9m"), "\(chat)")
        // 30 requests and 1,500 tokens in 60 s.
        #expect(chat.contains("0.50 25.0"), "\(chat)")
        let code = wide.first { $0.hasPrefix("  code") } ?? ""
        #expect(code.contains(" - "), "\(code)")
        // At 120 columns the instance columns come first.
        let narrower = DashboardRenderer.render(
            snapshot, state: DashboardState(), size: TerminalSize(rows: 40, columns: 120), color: false)
        #expect((narrower.first { $0.contains("NAME") } ?? "").contains("CTX×SLOTS"))
        // The detail view says it in words.
        let detail = DashboardRenderer.render(
            snapshot, state: DashboardState(view: .detail), size: TerminalSize(rows: 40, columns: 120), color: false)
        let line = detail.first { $0.hasPrefix("router ") } ?? ""
        #expect(
            line.contains("router, 2 busy, 1 queued, unload in 9m")
                && line.contains("last 60 s: 30 requests, 0.50 req/s, 25.0 tok/s"), "\(detail)")
    }

    @Test func theReadOnlyViewSaysSoUnderABanner() {
        let lines = DashboardRenderer.render(
            SnapshotFixtures.readOnly(), state: DashboardState(), size: TerminalSize(rows: 24, columns: 80),
            color: false)
        #expect(lines[0].contains("daemon not running"))
        #expect(lines[1].contains("daemon not running: read-only view from state/state.sqlite"))
        #expect(lines[2].hasPrefix("4 instances"))
    }

    @Test func colourMarksStatesAndCrashLoopsAndCanBeLeftOut() {
        let size = TerminalSize(rows: 24, columns: 80)
        let colored = DashboardRenderer.render(
            SnapshotFixtures.busy(), state: DashboardState(), size: size, color: true)
        let flaky = colored.first { visible($0).hasPrefix("  flaky") } ?? ""
        #expect(flaky.contains("\u{1B}[1;33mrestarting"), "\(flaky.debugDescription)")
        #expect(flaky.contains("\u{1B}[1;31m  3"), "restarts of a crash loop in bold red: \(flaky.debugDescription)")
        let chat = colored.first { visible($0).hasPrefix("> chat") } ?? ""
        #expect(chat.hasPrefix("\u{1B}[1;7m"), "the selected row is inverse: \(chat.debugDescription)")
        #expect(chat.contains("\u{1B}[1;7;32mhealthy"))
        #expect(chat.hasSuffix("\u{1B}[0m"))
        let plain = DashboardRenderer.render(SnapshotFixtures.busy(), state: DashboardState(), size: size, color: false)
        #expect(plain == colored.map(visible))
    }

    @Test func colourFollowsTheFlagNoColorAndTheTerminal() {
        #expect(ColorPolicy.allowed(noColorFlag: false, environment: ["TERM": "xterm-256color"]))
        #expect(!ColorPolicy.allowed(noColorFlag: true, environment: ["TERM": "xterm-256color"]))
        #expect(!ColorPolicy.allowed(noColorFlag: false, environment: ["TERM": "xterm", "NO_COLOR": "1"]))
        #expect(ColorPolicy.allowed(noColorFlag: false, environment: ["TERM": "xterm", "NO_COLOR": ""]))
        #expect(!ColorPolicy.allowed(noColorFlag: false, environment: ["TERM": "dumb"]))
    }

    @Test func theSelectedRowStaysOnScreenWhenTheTableScrolls() {
        let snapshot = SnapshotFixtures.crowded(60)
        let state = DashboardState(selected: "model-45")
        let lines = DashboardRenderer.render(
            snapshot, state: state, size: TerminalSize(rows: 15, columns: 60), color: false)
        #expect(lines.contains { $0.hasPrefix("> model-45") })
        #expect(!lines.contains { $0.hasPrefix("  model-00") })
    }

    @Test func theDetailViewShowsPlacementCommandEventsAndTheLog() {
        let lines = DashboardRenderer.render(
            SnapshotFixtures.busy(), state: DashboardState(view: .detail, selected: "chat"),
            size: TerminalSize(rows: 24, columns: 80), color: false)
        let text = lines.joined(separator: "\n")
        #expect(lines[1].hasPrefix("chat  healthy · health ok · pid 4101 · port 8001 · up 3h02m · restarts 0"))
        #expect(text.contains("placement one-gpu, 33/33 layers on GPU (Vulkan0 5.00 GiB, host 1.00 GiB)"))
        #expect(text.contains("$ /usr/bin/llama-server -m /models/llama.gguf --port 8001"))
        #expect(text.contains("loading → healthy: probe passed"))
        #expect(text.contains("log /p/logs/chat/stderr.log"))
        #expect(text.contains("server is listening on http://127.0.0.1:8001"))
    }

    @Test func helpListsTheKeys() {
        let lines = DashboardRenderer.render(
            SnapshotFixtures.busy(), state: DashboardState(view: .help), size: TerminalSize(rows: 24, columns: 80),
            color: false)
        let text = lines.joined(separator: "\n")
        #expect(text.contains("keys"))
        #expect(text.contains("take it down (asks to confirm)"))
        #expect(text.contains("cycle the sort"))
    }

    @Test func onceTextHasNoPaddingAndEveryRow() {
        let text = DashboardRenderer.renderOnce(SnapshotFixtures.crowded(30), width: 100)
        let lines = text.split(separator: "\n")
        #expect(lines.allSatisfy { !$0.hasSuffix(" ") })
        #expect(lines.allSatisfy { TerminalText.width(of: String($0)) <= 100 })
        #expect(lines.filter { $0.hasPrefix("model-") }.count == 30)
        #expect(!text.contains("\u{1B}"))
    }

    @Test func onceTextListsEveryDeviceHoweverFewTheInstances() {
        // Eight GPUs and the host, one instance: the live view gives devices a third of the screen, --once
        // shows them all.
        var snapshot = SnapshotFixtures.busy()
        snapshot.instances = Array(snapshot.instances.prefix(1))
        snapshot.devices =
            (0..<8).map { index in
                DeviceUsage(
                    id: "gpu\(index)", name: "Vulkan\(index)", description: "GPU \(index)", totalBytes: 24 << 30,
                    freeBytes: 20 << 30, holdings: [])
            } + [snapshot.devices[1]]
        let text = DashboardRenderer.renderOnce(snapshot, width: 100)
        for index in 0..<8 { #expect(text.contains("Vulkan\(index)"), "Vulkan\(index) in\n\(text)") }
        #expect(!text.contains("more devices"), "\(text)")
        #expect(!text.hasSuffix("\n\n"), "no blank lines at the end")
    }

    @Test func textFromLogsCannotMoveTheCursorAndWideCharactersCountTwice() {
        let line = StyledLine("a\u{1B}[2Jb\tc\u{07}日本")
        #expect(line.plainText == "ab c日本")
        #expect(line.cellWidth == 8)
        #expect(line.render(width: 6, color: false) == "ab c… ")
        #expect(line.render(width: 10, color: false) == "ab c日本  ")
    }
}
