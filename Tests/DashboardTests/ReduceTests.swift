import Testing

@testable import Dashboard

@Suite struct ReduceTests {
    let snapshot = SnapshotFixtures.busy()

    /// Feeds keys one by one; returns the final state and every action asked for.
    func press(
        _ keys: [DashboardKey], from start: DashboardState = DashboardState()
    ) -> (
        DashboardState, [DashboardAction]
    ) {
        var state = start
        var actions: [DashboardAction] = []
        for key in keys {
            let (next, action) = DashboardState.reduce(state, key, snapshot: snapshot)
            state = next
            if let action { actions.append(action) }
        }
        return (state, actions)
    }

    @Test func sCyclesTheSortAndTheOrderFollows() {
        var state = DashboardState()
        var seen: [DashboardState.SortKey] = []
        for _ in 0..<5 {
            state = DashboardState.reduce(state, .character("s"), snapshot: snapshot).0
            seen.append(state.sort)
        }
        #expect(seen == [.state, .memory, .restarts, .uptime, .name])
        #expect(
            DashboardState(sort: .state).visibleRows(of: snapshot).map(\.name) == ["embed", "flaky", "code", "chat"])
        #expect(
            DashboardState(sort: .memory).visibleRows(of: snapshot).map(\.name) == ["code", "chat", "flaky", "embed"])
        #expect(
            DashboardState(sort: .restarts).visibleRows(of: snapshot).map(\.name) == ["embed", "flaky", "chat", "code"])
        #expect(
            DashboardState(sort: .uptime).visibleRows(of: snapshot).map(\.name) == ["chat", "code", "embed", "flaky"])
    }

    @Test func slashTypesAFilterThatEnterKeepsAndEscapeClears() {
        let (typed, _) = press([.character("/"), .character("c"), .character("o"), .character("x"), .backspace])
        #expect(typed.editingFilter)
        #expect(typed.filter == "co")
        #expect(typed.visibleRows(of: snapshot).map(\.name) == ["code"])
        #expect(typed.selected == "code", "the selection moves onto a visible row")
        let (kept, _) = press([.enter], from: typed)
        #expect(!kept.editingFilter)
        #expect(kept.filter == "co")
        let (quitWhileTyping, actions) = press([.character("/"), .character("q")])
        #expect(actions.isEmpty, "q is text while typing a filter")
        #expect(quitWhileTyping.filter == "q")
        let (cleared, _) = press([.escape], from: typed)
        #expect(cleared.filter.isEmpty)
        #expect(!cleared.editingFilter)
        let byState = press([.character("/")] + "fail".map { .character($0) } + [.enter]).0
        #expect(byState.visibleRows(of: snapshot).map(\.name) == ["embed"])
    }

    @Test func dAsksFirstAndOnlyYTakesTheInstanceDown() {
        let (asking, none) = press([.down, .character("d")])
        #expect(none.isEmpty)
        #expect(asking.confirmingDown == "code")
        let (_, confirmed) = press([.character("y")], from: asking)
        #expect(confirmed == [.down("code")])
        let (cancelled, nothing) = press([.character("n")], from: asking)
        #expect(nothing.isEmpty)
        #expect(cancelled.confirmingDown == nil)
        #expect(cancelled.message == "code left running")
    }

    @Test func actionKeysNameTheSelectedInstance() {
        let (_, actions) = press([.down, .down, .character("r"), .up, .character("u"), .end, .character("r")])
        #expect(actions == [.restart("embed"), .up("code"), .restart("flaky")])
        #expect(press([.character("q")]).1 == [.quit])
        #expect(press([.interrupt]).1 == [.quit])
        #expect(press([.character("/"), .interrupt]).1 == [.quit])
    }

    @Test func arrowsStopAtTheEnds() {
        #expect(press([.up, .up]).0.selected == "chat")
        #expect(press([.down, .down, .down, .down, .down, .down]).0.selected == "flaky")
        #expect(press([.pageDown]).0.selected == "flaky")
    }

    @Test func enterOpensTheDetailAndEscapeComesBack() {
        let (detail, _) = press([.down, .enter])
        #expect(detail.view == .detail)
        #expect(detail.selectedRow(of: snapshot)?.name == "code")
        let (logs, _) = press([.character("l")], from: detail)
        #expect(logs.view == .logs)
        #expect(press([.character("l")], from: logs).0.view == .detail)
        let (next, _) = press([.down], from: detail)
        #expect(next.view == .detail)
        #expect(next.selected == "embed", "arrows walk the instances in the detail view")
        #expect(press([.escape], from: detail).0.view == .table)
    }

    @Test func helpOpensOnQuestionMarkAndAnyKeyReturns() {
        let (help, _) = press([.enter, .character("?")])
        #expect(help.view == .help)
        #expect(press([.character("x")], from: help).0.view == .detail)
        #expect(press([.character("q")], from: help).1 == [.quit])
    }
}

@Suite struct FrameDifferTests {
    @Test func onlyChangedRowsAreWritten() {
        let before = ["aaaa", "bbbb", "cccc"]
        #expect(FrameDiffer.diff(from: before, to: before).isEmpty)
        let after = ["aaaa", "bxbb", "cccc"]
        #expect(FrameDiffer.diff(from: before, to: after) == "\u{1B}[2;1Hbxbb")
        #expect(FrameDiffer.changedRows(from: before, to: ["zzzz", "bbbb", "yyyy"]) == [0, 2])
    }

    @Test func aNewSizeClearsAndRedrawsEverything() {
        let output = FrameDiffer.diff(from: [], to: ["ab", "cd"])
        #expect(output == "\u{1B}[0m\u{1B}[2J\u{1B}[1;1Hab\u{1B}[2;1Hcd")
        #expect(FrameDiffer.changedRows(from: ["ab"], to: ["ab", "cd"]) == [0, 1])
    }

    @Test func aRefreshThatChangesOneClockRewritesOneRow() {
        var later = SnapshotFixtures.busy()
        later.time += 1
        let size = TerminalSize(rows: 24, columns: 80)
        let first = DashboardRenderer.render(SnapshotFixtures.busy(), state: DashboardState(), size: size, color: true)
        let second = DashboardRenderer.render(later, state: DashboardState(), size: size, color: true)
        // The header's clock; the uptime column is not shown at 80 columns.
        #expect(FrameDiffer.changedRows(from: first, to: second) == [0])
    }
}

@Suite struct KeyDecoderTests {
    @Test func bytesBecomeKeys() {
        #expect(
            KeyDecoder.decode(Array("q?/s".utf8)) == [
                .character("q"), .character("?"), .character("/"), .character("s"),
            ])
        #expect(KeyDecoder.decode([0x1B, 0x5B, 0x41, 0x1B, 0x5B, 0x42]) == [.up, .down])
        #expect(KeyDecoder.decode([0x1B, 0x4F, 0x41]) == [.up], "application cursor mode")
        #expect(KeyDecoder.decode([0x1B, 0x5B, 0x35, 0x7E, 0x1B, 0x5B, 0x36, 0x7E]) == [.pageUp, .pageDown])
        #expect(KeyDecoder.decode([0x1B]) == [.escape])
        #expect(KeyDecoder.decode([0x0D, 0x7F, 0x03]) == [.enter, .backspace, .interrupt])
        #expect(KeyDecoder.decode(Array("é".utf8)) == [.character("é")])
        #expect(
            KeyDecoder.decode([0x1B, 0x5B, 0x31, 0x3B, 0x35, 0x5A, 0x61]) == [.character("a")], "unknown CSI dropped")
    }
}
