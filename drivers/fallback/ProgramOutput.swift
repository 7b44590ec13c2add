import Dispatch
import Foundation

/// What a program printed (stdout and stderr together) and how it ended, or that it ran out of time.
struct ProgramOutput: Sendable {
    var output: String
    var status: Int32
    var timedOut: Bool

    /// Runs `executable` with `arguments` (no shell), collects its output, and kills it (SIGKILL) if it is
    /// still running after `timeout` seconds.
    ///
    /// Output is read on a dispatch thread, never on the concurrency pool: a killed program's children may
    /// keep the pipe open, and then only what arrived is returned.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) async throws -> ProgramOutput {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let exited = Latch<Void>()
        process.terminationHandler = { _ in exited.set(()) }
        try process.run()
        let collected = Latch<Data>()
        DispatchQueue.global().async { collected.set(pipe.fileHandleForReading.readDataToEndOfFile()) }

        let timedOut = await !exited.wait(until: .now + .milliseconds(Int(timeout * 1000)))
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        _ = await collected.wait(until: .now + .milliseconds(timedOut ? 100 : 2000))
        return ProgramOutput(
            output: String(decoding: collected.value ?? Data(), as: UTF8.self), status: process.terminationStatus,
            timedOut: timedOut)
    }

    /// A value set once from another thread, polled without blocking the concurrency pool.
    private final class Latch<Value: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Value?
        var value: Value? { lock.withLock { stored } }
        func set(_ value: Value) { lock.withLock { stored = value } }

        /// Whether the value was set before `deadline`.
        func wait(until deadline: ContinuousClock.Instant) async -> Bool {
            while value == nil {
                if ContinuousClock.now >= deadline { return false }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return true
        }
    }
}
