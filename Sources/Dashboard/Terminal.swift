import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `write(2)`, under a name the `Terminal` methods don't shadow.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

/// The controlling terminal in full-screen mode: raw input, the alternate screen, the cursor hidden; and
/// put back as it was on every way out.
///
/// `restore()` runs from `deinit`, from the loop's `defer`, and from the SIGINT / SIGTERM / SIGHUP handlers
/// (dispatch sources, so the handlers run as ordinary code, not in signal context). SIGWINCH and those
/// signals also write a byte to a pipe that `waitForInput` polls, so a resize or a kill wakes the loop at once.
public final class Terminal: DashboardTerminal, @unchecked Sendable {
    public typealias Input = TerminalInput

    private let input: Int32
    private let output: Int32
    private var original = termios()
    private let lock = NSLock()
    private var restored = false
    private var signalSources: [any DispatchSourceSignal] = []
    private var wakePipe: [Int32] = [-1, -1]

    /// Puts the terminal into full-screen raw mode.
    ///
    /// - Throws: `TerminalError` when standard input is not a terminal or its attributes can't be set.
    public init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) throws(TerminalError) {
        self.input = input
        self.output = output
        guard isatty(input) == 1, isatty(output) == 1 else {
            throw TerminalError("standard input and output must be a terminal")
        }
        guard tcgetattr(input, &original) == 0 else { throw TerminalError("cannot read the terminal's settings") }
        var raw = original
        raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
        raw.c_cflag |= tcflag_t(CS8)
        // Reads return what is there; waiting is poll's job.
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(input, TCSAFLUSH, &raw) == 0 else { throw TerminalError("cannot put the terminal in raw mode") }
        guard pipe(&wakePipe) == 0 else {
            _ = tcsetattr(input, TCSAFLUSH, &original)
            throw TerminalError("cannot create a pipe")
        }
        _ = fcntl(wakePipe[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(wakePipe[1], F_SETFL, O_NONBLOCK)
        // Alternate screen, cursor hidden, screen cleared.
        writeAll("\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
        // A parent may have passed these on blocked (Foundation's Process does): unblock them, or they never arrive.
        var wanted = sigset_t()
        sigemptyset(&wanted)
        for signalNumber in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] { sigaddset(&wanted, signalNumber) }
        pthread_sigmask(SIG_UNBLOCK, &wanted, nil)
        for signalNumber in [SIGINT, SIGTERM, SIGHUP, SIGWINCH] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            let pipeEnd = wakePipe[1]
            source.setEventHandler { [weak self] in
                if signalNumber != SIGWINCH { self?.restore() }
                var byte = UInt8(truncatingIfNeeded: signalNumber)
                _ = systemWrite(pipeEnd, &byte, 1)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    deinit {
        restore()
        for source in signalSources { source.cancel() }
        for descriptor in wakePipe where descriptor >= 0 { close(descriptor) }
    }

    /// Leaves the alternate screen, shows the cursor and puts the settings back; safe to call more than once.
    public func restore() {
        lock.lock()
        defer { lock.unlock() }
        guard !restored else { return }
        restored = true
        writeAll("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
        _ = tcsetattr(input, TCSAFLUSH, &original)
    }

    /// The size, from TIOCGWINSZ; 80×24 when the terminal doesn't say.
    public func size() -> TerminalSize {
        Self.size(of: output)
    }

    /// The size of the terminal on `descriptor` (any command's progress line may ask); 80×24 when it doesn't
    /// say or isn't one.
    public static func size(of descriptor: Int32) -> TerminalSize {
        var window = winsize()
        if ioctl(descriptor, UInt(TIOCGWINSZ), &window) == 0, window.ws_row > 0, window.ws_col > 0 {
            return TerminalSize(rows: Int(window.ws_row), columns: Int(window.ws_col))
        }
        return TerminalSize(rows: 24, columns: 80)
    }

    /// Writes a frame in one `write` call where the kernel takes it whole; nothing once restored, so a frame
    /// drawn while a signal restores the terminal can't land on the normal screen.
    public func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        guard !restored else { return }
        writeAll(text)
    }

    private func writeAll(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                systemWrite(output, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            offset += written
        }
    }

    /// Waits up to `timeout` seconds for keys or a signal.
    public func waitForInput(timeout: Double) -> Input {
        var descriptors = [
            pollfd(fd: input, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds = Int32(max(0, min(timeout, 3600)) * 1000)
        let ready = poll(&descriptors, 2, milliseconds)
        if ready <= 0 { return .timeout }
        if descriptors[1].revents & Int16(POLLIN) != 0 {
            var signals = [UInt8](repeating: 0, count: 16)
            let count = read(wakePipe[0], &signals, signals.count)
            let received = signals.prefix(max(0, count)).map { Int32($0) }
            if let stop = received.first(where: { $0 != SIGWINCH }) { return .terminate(stop) }
            return .resized
        }
        if descriptors[0].revents & Int16(POLLHUP | POLLERR) != 0 { return .terminate(SIGHUP) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(input, &buffer, buffer.count)
        if count == 0 { return .terminate(SIGHUP) }
        guard count > 0 else { return .timeout }
        return .keys(KeyDecoder.decode(Array(buffer.prefix(count))))
    }
}

/// The terminal could not be set up for the full-screen view.
public struct TerminalError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
