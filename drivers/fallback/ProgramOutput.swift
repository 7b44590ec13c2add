import Foundation

/// What a program printed (stdout and stderr together) and how it ended, or that it ran out of time.
struct ProgramOutput: Sendable {
    var output: String
    var status: Int32
    var timedOut: Bool

    /// Runs `executable` with `arguments` (no shell), collects its output, and kills it (SIGKILL) if it is
    /// still running after `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) async throws -> ProgramOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let finished = Finished()
        process.terminationHandler = { _ in finished.signal() }
        try process.run()

        // Read on a thread of its own so a chatty program never blocks on a full pipe.
        let reader = Task.detached { pipe.fileHandleForReading.readDataToEndOfFile() }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        var timedOut = false
        while !finished.isSet {
            if ContinuousClock.now >= deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        process.waitUntilExit()
        // A killed program's children may hold the pipe open: don't wait for them.
        try? pipe.fileHandleForWriting.close()
        let data = timedOut ? Data() : await reader.value
        if timedOut { reader.cancel() }
        return ProgramOutput(
            output: String(decoding: data, as: UTF8.self), status: process.terminationStatus, timedOut: timedOut)
    }

    /// A flag set once from the termination handler's thread.
    private final class Finished: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        var isSet: Bool { lock.withLock { value } }
        func signal() { lock.withLock { value = true } }
    }
}
