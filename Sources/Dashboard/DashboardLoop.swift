/// The full-screen dashboard: draw, wait for a key, a signal or the refresh interval, act, draw again.
///
/// All decisions are in `DashboardState.reduce` and `DashboardRenderer.render`; this only moves data between
/// them, the source, the actions and the terminal.
public struct DashboardLoop: Sendable {
    public var source: any SnapshotSource
    public var actions: any InstanceActions
    /// Seconds between refreshes.
    public var interval: Double
    public var color: Bool

    public init(source: any SnapshotSource, actions: any InstanceActions, interval: Double, color: Bool) {
        self.source = source
        self.actions = actions
        self.interval = interval
        self.color = color
    }

    /// Runs until `q`, Ctrl-C or a terminating signal. The caller restores the terminal (and `Terminal`
    /// restores itself on signals and when released).
    ///
    /// - Returns: the signal that ended it (SIGINT, SIGTERM, SIGHUP), or `nil` after `q` or Ctrl-C.
    @discardableResult
    public func run(on terminal: some DashboardTerminal) async throws -> Int32? {
        let clock = ContinuousClock()
        var state = DashboardState()
        var size = terminal.size()
        var snapshot = try await source.snapshot(logTailOf: nil, logLines: 0)
        var refreshedAt = clock.now
        var previous: [String] = []

        func refresh() async {
            let focus = state.view == .detail || state.view == .logs ? state.selectedRow(of: snapshot)?.name : nil
            do {
                snapshot = try await source.snapshot(logTailOf: focus, logLines: size.rows)
            } catch {
                state.message = "cannot refresh: \(error)"
            }
            refreshedAt = clock.now
        }

        while true {
            let lines = DashboardRenderer.render(snapshot, state: state, size: size, color: color)
            let frame = FrameDiffer.diff(from: previous, to: lines)
            if !frame.isEmpty { terminal.write(frame) }
            previous = lines

            let elapsed = refreshedAt.duration(to: clock.now)
            let waited = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            switch terminal.waitForInput(timeout: max(0.01, interval - waited)) {
            case .terminate(let signal):
                return signal
            case .resized:
                size = terminal.size()
                previous = []
            case .timeout:
                await refresh()
            case .keys(let keys):
                let before = state
                for key in keys {
                    let (next, action) = DashboardState.reduce(state, key, snapshot: snapshot)
                    state = next
                    guard let action else { continue }
                    if action == .quit { return nil }
                    // On screen before the daemon is asked ("taking x down…"): a stop can take the whole grace
                    // period, and the confirmation question must not stay up meanwhile.
                    let lines = DashboardRenderer.render(snapshot, state: state, size: size, color: color)
                    let frame = FrameDiffer.diff(from: previous, to: lines)
                    if !frame.isEmpty { terminal.write(frame) }
                    previous = lines
                    state.message = await actions.perform(action)
                    await refresh()
                }
                let focusChanged =
                    (state.view != before.view || state.selected != before.selected)
                    && (state.view == .detail || state.view == .logs)
                if focusChanged { await refresh() }
            }
        }
    }
}
