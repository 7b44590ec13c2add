/// What the dashboard loop needs of a terminal: its size, a way to draw, and a way to wait for input.
///
/// `Terminal` is the real one; tests drive the loop with a scripted one.
public protocol DashboardTerminal: AnyObject, Sendable {
    /// The size in cells now.
    func size() -> TerminalSize
    /// Writes one frame's bytes.
    func write(_ text: String)
    /// Waits up to `timeout` seconds for keys, a resize or a terminating signal.
    func waitForInput(timeout: Double) -> TerminalInput
}

/// Why the loop woke up.
public enum TerminalInput: Sendable, Equatable {
    case keys([DashboardKey])
    case resized
    /// SIGINT, SIGTERM or SIGHUP: quit.
    case terminate(Int32)
    case timeout
}
