import Foundation
import Host
import TestSupport
import Testing

@testable import Supervisor

#if canImport(Glibc)
    import Glibc
#endif

/// `unwatch` never waits long: a check under way is told to stop, and another registration's check is not
/// waited for.
@Suite struct LogRotatorTests {
    private final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [String] = []
        func append(_ entry: String) { lock.withLock { entries.append(entry) } }
        func contains(_ entry: String) -> Bool { lock.withLock { entries.contains(entry) } }
    }

    private static func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    /// A check that runs until it is cancelled (at most 10 s).
    private static func long(_ recorder: Recorder, _ name: String) -> @Sendable (() -> Bool) -> Void {
        { cancelled in
            recorder.append("\(name) started")
            let start = ContinuousClock.now
            while !cancelled() && ContinuousClock.now - start < .seconds(10) { usleep(1000) }
            recorder.append(cancelled() ? "\(name) cancelled" : "\(name) ran out")
        }
    }

    @Test func unwatchStopsTheCheckUnderWayAtOnce() async throws {
        let rotator = LogRotator()
        let recorder = Recorder()
        let id = rotator.watch(every: .milliseconds(20), Self.long(recorder, "long"))
        #expect(try await Self.eventually { recorder.contains("long started") })
        let began = ContinuousClock.now
        rotator.unwatch(id)
        // Well before the 10 s the check would run if it were not told to stop.
        #expect(ContinuousClock.now - began < .seconds(5))
        #expect(recorder.contains("long cancelled"))
    }

    @Test func unwatchDoesNotWaitForAnotherRegistrationsCheck() async throws {
        let rotator = LogRotator()
        let recorder = Recorder()
        let long = rotator.watch(every: .milliseconds(20), Self.long(recorder, "long"))
        let short = rotator.watch(every: .milliseconds(20)) { _ in recorder.append("short ran") }
        #expect(try await Self.eventually { recorder.contains("long started") })
        let began = ContinuousClock.now
        rotator.unwatch(short)
        #expect(ContinuousClock.now - began < .seconds(5))
        #expect(!recorder.contains("long cancelled"))
        rotator.unwatch(long)
        #expect(recorder.contains("long cancelled"))
        #expect(!recorder.contains("short ran"))
    }

    @Test func registrationsComingAndGoingOftenDoNotKeepChecksFromRunning() async throws {
        let rotator = LogRotator()
        let runs = Counter()
        let steady = rotator.watch(every: .milliseconds(50)) { _ in runs.increment() }
        defer { rotator.unwatch(steady) }
        // Servers restarting every 10 ms: each one registers its logs and takes them off, until the 50 ms check
        // has run 4 times (about 200 ms when nothing holds it back) or for 10 s.
        let began = ContinuousClock.now
        let until = began + .seconds(10)
        while ContinuousClock.now < until && runs.value < 4 {
            let id = rotator.watch(every: .seconds(5)) { _ in }
            try await Task.sleep(for: .milliseconds(10))
            rotator.unwatch(id)
        }
        #expect(runs.value >= 4, "the 50 ms check ran \(runs.value) times in \(ContinuousClock.now - began)")
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func increment() { lock.withLock { count += 1 } }
        var value: Int { lock.withLock { count } }
    }

    @Test func aCancelledCopyIsRemovedAndTheSourceLeftAsItIs() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let source = try folder.write("stdout.log", String(repeating: "a line of the server\n", count: 20_000))
        var chunks = 0
        let copied = InstanceLogs.copy(source, to: source + ".1") {
            chunks += 1
            return chunks > 2
        }
        #expect(copied == .cancelled)
        #expect(chunks == 3)
        #expect(!FileManager.default.fileExists(atPath: source + ".1"))
        #expect(InstanceLogs.size(of: source) == 20_000 * 21)
        // Not cancelled: the whole file.
        #expect(InstanceLogs.copy(source, to: source + ".1") == .rotated)
        #expect(InstanceLogs.size(of: source + ".1") == 20_000 * 21)
    }

    @Test func aRotationCancelledByAStopMovesNoRotatedFile() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let source = try folder.write("stderr.log", String(repeating: "a line of the server\n", count: 20_000))
        try folder.write("stderr.log.1", "one rotation ago\n")
        try folder.write("stderr.log.2", "two rotations ago\n")
        var chunks = 0
        #expect(
            InstanceLogs.rotate(source, keep: 2) {
                chunks += 1; return chunks > 2
            } == .cancelled)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(files == ["stderr.log", "stderr.log.1", "stderr.log.2"], "\(files)")
        #expect(try String(contentsOfFile: source + ".1", encoding: .utf8) == "one rotation ago\n")
        #expect(try String(contentsOfFile: source + ".2", encoding: .utf8) == "two rotations ago\n")
        #expect(InstanceLogs.size(of: source) == 20_000 * 21)
        // The next one, not cancelled, shifts them and truncates the live file.
        #expect(InstanceLogs.rotate(source, keep: 2) == .rotated)
        #expect(try String(contentsOfFile: source + ".2", encoding: .utf8) == "one rotation ago\n")
        #expect(InstanceLogs.size(of: source + ".1") == 20_000 * 21 && InstanceLogs.size(of: source) == 0)
    }

    @Test func linesTheServerAppendsDuringTheCopyAreCopiedBeforeTheTruncation() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let original = String(repeating: "a line of the server\n", count: 20_000)
        let source = try folder.write("stdout.log", original)
        let writer = open(source, O_WRONLY | O_APPEND | O_CLOEXEC)
        defer { close(writer) }
        // The server writes while the copy runs: a line before each of the first five chunks (of seven).
        var late = 0
        let appendWhileCopying = { () -> Bool in
            if late < 5 {
                _ = "late \(late)\n".withCString { write(writer, $0, strlen($0)) }
                late += 1
            }
            return false
        }
        #expect(InstanceLogs.rotate(source, keep: 1, cancelled: appendWhileCopying) == .rotated)
        let lateLines = (0..<5).map { "late \($0)\n" }.joined()
        #expect(try String(contentsOfFile: source + ".1", encoding: .utf8) == original + lateLines)
        #expect(InstanceLogs.size(of: source) == 0)

        // Without a catch-up pass the copy stops at the size it had when opened: those lines would be lost.
        try original.write(toFile: source, atomically: false, encoding: .utf8)
        late = 0
        #expect(
            InstanceLogs.copy(source, to: source + ".2", catchUpPasses: 0, cancelled: appendWhileCopying) == .rotated)
        #expect(try String(contentsOfFile: source + ".2", encoding: .utf8) == original)
    }

    @Test func aRotationThatFailsLeavesTheLogAndSaysWhyOncePerFailureStreak() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logs = InstanceLogs(root: folder.path, instance: "one")
        let descriptors = try logs.openForServer()
        close(descriptors.stdout)
        close(descriptors.stderr)
        let line = String(repeating: "x", count: 99) + "\n"
        try String(repeating: line, count: 20).write(toFile: logs.stdoutPath, atomically: false, encoding: .utf8)
        // A folder where the copy should go: even root can't open it for writing.
        try FileManager.default.createDirectory(atPath: logs.stdoutPath + ".1", withIntermediateDirectories: false)
        let rotation = LogRotation(maxBytes: 1000, keep: 1)
        let results = logs.rotateIfNeeded(rotation)
        #expect(results.map(\.path) == [logs.stdoutPath])
        guard case .failed(let reason) = results.first?.outcome else {
            Issue.record("expected a failure, got \(results)")
            return
        }
        #expect(reason.contains(logs.stdoutPath + ".1") && reason.contains("directory"), "\(reason)")
        #expect(InstanceLogs.size(of: logs.stdoutPath) == 2000, "the live log is left as it was")

        // Through the rotator: the failure is reported once while it lasts, and again after a success.
        let reports = Reports()
        let rotator = LogRotator()
        let id = rotator.watch(logs, rotation: rotation, every: .milliseconds(5)) { path, reason in
            reports.add("\(path): \(reason)")
        }
        defer { rotator.unwatch(id) }
        #expect(try await Self.eventually { reports.all.count == 1 })
        try await Task.sleep(for: .milliseconds(100))
        #expect(reports.all.count == 1, "\(reports.all)")
        #expect(reports.all.first?.hasPrefix(logs.stdoutPath + ": cannot rename") == true, "\(reports.all)")
        try FileManager.default.removeItem(atPath: logs.stdoutPath + ".1")
        #expect(try await Self.eventually { InstanceLogs.size(of: logs.stdoutPath) == 0 })
        #expect(InstanceLogs.size(of: logs.stdoutPath + ".1") == 2000)
        // The folder back in the way first, then the log past its limit again: a new failure, reported again.
        try FileManager.default.removeItem(atPath: logs.stdoutPath + ".1")
        try FileManager.default.createDirectory(atPath: logs.stdoutPath + ".1", withIntermediateDirectories: false)
        try String(repeating: line, count: 20).write(toFile: logs.stdoutPath, atomically: false, encoding: .utf8)
        #expect(try await Self.eventually { reports.all.count == 2 }, "\(reports.all)")
    }

    /// A log there when the watch began and a log that appears later are both rotated once they grow.
    @Test func logsThereAtTheStartAndLogsThatAppearLaterAreBothRotated() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let logs = InstanceLogs(root: folder.path, instance: "one")
        try FileManager.default.createDirectory(atPath: logs.folder, withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: logs.stdoutPath, contents: nil))
        let rotator = LogRotator()
        let id = rotator.watch(logs, rotation: LogRotation(maxBytes: 1000, keep: 1), every: .milliseconds(5))
        defer { rotator.unwatch(id) }
        let chunk = Data(repeating: UInt8(ascii: "x"), count: 1500)
        let appender = try #require(FileHandle(forWritingAtPath: logs.stdoutPath))
        try appender.seekToEnd()
        try appender.write(contentsOf: chunk)
        try appender.close()
        #expect(try await Self.eventually { InstanceLogs.size(of: logs.stdoutPath + ".1") == 1500 })
        #expect(InstanceLogs.size(of: logs.stdoutPath) == 0)
        try #require(FileManager.default.createFile(atPath: logs.stderrPath, contents: chunk))
        #expect(try await Self.eventually { InstanceLogs.size(of: logs.stderrPath + ".1") == 1500 })
        #expect(InstanceLogs.size(of: logs.stderrPath) == 0)
    }

    private final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }
}
