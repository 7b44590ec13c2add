import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process a test owns (a stand-in for a foreign process, a port holder): `stop()` kills it and reaps it,
/// so nothing is left behind whatever the test asserted. Use it with `defer { child.stop() }`.
public final class TestChild: @unchecked Sendable {
    public let process = Process()

    /// `quiet`: its stderr goes to /dev/null.
    public init(_ executable: String, _ arguments: [String], quiet: Bool = false) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if quiet { process.standardError = FileHandle.nullDevice }
    }

    /// A `sleep 30`, started: a live process of the test's own that does nothing.
    public static func sleeper() throws -> TestChild {
        let child = TestChild("/bin/sleep", ["30"])
        try child.start()
        return child
    }

    public var pid: Int32 { process.processIdentifier }

    public func start() throws { try process.run() }

    /// SIGKILL and wait for it; nothing when it never started. SIGKILL because Foundation starts children with
    /// the calling thread's signal mask, and dispatch threads block SIGTERM.
    public func stop() {
        guard process.processIdentifier > 0 else { return }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
