import Dashboard
import Foundation
import Testing

/// A terminal that plays back inputs and keeps what was written.
final class ScriptedTerminal: DashboardTerminal, @unchecked Sendable {
    private let lock = NSLock()
    private var inputs: [TerminalInput]
    private var sizes: [TerminalSize]
    private(set) var frames: [String] = []

    init(_ inputs: [TerminalInput], sizes: [TerminalSize]) {
        self.inputs = inputs
        self.sizes = sizes
    }

    func size() -> TerminalSize {
        lock.withLock { sizes.count > 1 ? sizes.removeFirst() : sizes[0] }
    }

    func write(_ text: String) {
        lock.withLock { frames.append(text) }
    }

    func waitForInput(timeout: Double) -> TerminalInput {
        lock.withLock { inputs.isEmpty ? .terminate(15) : inputs.removeFirst() }
    }
}

/// Records the calls the daemon would get.
final class RecordingActions: InstanceActions, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var calls: [String] = []

    func restart(_ instance: String) async throws -> String { record("restart \(instance)") }
    func up(_ instance: String) async throws -> String { record("up \(instance)") }
    func down(_ instance: String) async throws -> String { record("down \(instance)") }

    private func record(_ call: String) -> String {
        lock.withLock { calls.append(call) }
        return "\(call): sent"
    }
}

/// A source that serves one snapshot and remembers what it was asked.
final class FixedSource: SnapshotSource, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var requests: [String?] = []
    let snapshot: DashboardSnapshot

    init(_ snapshot: DashboardSnapshot) {
        self.snapshot = snapshot
    }

    func snapshot(logTailOf instance: String?, logLines: Int) async throws -> DashboardSnapshot {
        lock.withLock { requests.append(instance) }
        return snapshot
    }
}

@Suite struct LoopTests {
    @Test func keysBecomeActionsFramesAreDiffedAndAResizeRedrawsAll() async throws {
        let terminal = ScriptedTerminal(
            [
                .keys([.down, .character("r")]),  // restart code
                .timeout,  // a refresh: nothing changed but the clock... which is fixed: no bytes
                .keys([.character("d")]), .keys([.character("y")]),  // down code, confirmed
                .keys([.character("d")]), .keys([.character("n")]),  // asked, declined
                .resized,
                .keys([.enter]),  // detail of code: the source is asked for its log
                .keys([.character("u"), .character("q")]),
            ],
            sizes: [TerminalSize(rows: 24, columns: 80), TerminalSize(rows: 30, columns: 100)])
        let actions = RecordingActions()
        let source = FixedSource(SnapshotFixtures.readOnly())
        let signal = try await DashboardLoop(source: source, actions: actions, interval: 60, color: false)
            .run(on: terminal)

        #expect(signal == nil, "q is not a signal")
        #expect(actions.calls == ["restart code", "down code", "up code"])
        #expect(source.requests.contains("code"), "the detail view asks for the log: \(source.requests)")
        let frames = terminal.frames
        #expect(frames.first?.hasPrefix("\u{1B}[0m\u{1B}[2J") == true, "the first frame clears the screen")
        #expect(frames.filter { $0.contains("\u{1B}[2J") }.count == 2, "cleared once more after the resize")
        #expect(frames.contains { $0.contains("restart code: sent") })
        #expect(frames.contains { $0.contains("take code down? y to confirm") })
        // Drawn before the daemon is asked, so the question doesn't stay up while a stop takes its time.
        #expect(frames.contains { $0.contains("taking code down…") })
        #expect(frames.contains { $0.contains("code left running") })
        // After the first frame, a key that moves the selection rewrites only the rows that changed.
        let selection = frames[1]
        #expect(!selection.contains("\u{1B}[2J"))
        #expect(selection.components(separatedBy: "\u{1B}[").count - 1 <= 6, "\(selection.debugDescription)")
    }

    @Test func aTerminatingSignalEndsTheLoopWithItsNumber() async throws {
        let terminal = ScriptedTerminal([.terminate(15)], sizes: [TerminalSize(rows: 24, columns: 80)])
        let signal = try await DashboardLoop(
            source: FixedSource(SnapshotFixtures.busy()), actions: ReadOnlyInstanceActions(), interval: 1, color: true
        ).run(on: terminal)
        #expect(signal == 15)
    }

    @Test func readOnlyActionsSayTheDaemonIsNotRunning() async {
        let message = await ReadOnlyInstanceActions().perform(.restart("chat"))
        #expect(message == "the daemon is not running; start it with 'llama-orch daemon start'")
    }
}
