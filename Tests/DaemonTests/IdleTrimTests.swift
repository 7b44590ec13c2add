import ControlAPI
import Daemon
import Foundation
import Host
import TestSupport
import Testing

/// The daemon gives back the heap a burst of work left resident, once it has been quiet.
@Suite struct IdleTrimTests {
    private final class Count: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() { lock.withLock { value += 1 } }
        var current: Int { lock.withLock { value } }
    }

    @Test func trimsOnceAfterQuietAndAgainOnlyAfterNewActivity() {
        let trims = Count()
        let trim = IdleTrim(quietFor: .seconds(3), automatic: false) { trims.increment() }
        let start = ContinuousClock.now
        trim.noteActivity(at: start)
        #expect(!trim.trimIfQuiet(at: start.advanced(by: .seconds(1))), "not quiet long enough")
        trim.noteActivity(at: start.advanced(by: .seconds(2)))
        #expect(!trim.trimIfQuiet(at: start.advanced(by: .seconds(4))), "the quiet starts again at each activity")
        #expect(trim.trimIfQuiet(at: start.advanced(by: .seconds(5))))
        #expect(!trim.trimIfQuiet(at: start.advanced(by: .seconds(60))), "nothing happened since the last trim")
        #expect(trims.current == 1)
        trim.noteActivity(at: start.advanced(by: .seconds(61)))
        #expect(trim.trimIfQuiet(at: start.advanced(by: .seconds(64))))
        #expect(trims.current == 2)
    }

    @Test func activityAloneBringsATrimOnceQuiet() async throws {
        let trims = Count()
        // A quiet spell of 1 s: the 100 ms between the two activities stays well short of it on a busy machine.
        let trim = IdleTrim(quietFor: .seconds(1)) { trims.increment() }
        trim.noteActivity()
        try await Task.sleep(for: .milliseconds(100))
        trim.noteActivity()
        #expect(trims.current == 0)
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while trims.current == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(trims.current == 1)
        try await Task.sleep(for: .milliseconds(1500))
        #expect(trims.current == 1, "one trim per quiet spell")
    }

    /// The real trim, in this test process: heap freed in the middle of malloc's arena (a live block above it
    /// keeps it from shrinking by itself) goes back to the system.
    @Test func trimmingMallocReturnsFreedHeapToTheSystem() throws {
        #if os(Linux)
            let blockSize = 16 << 10  // below malloc's mmap threshold: carved from the arena
            let blocks = (0..<4096).map { _ -> UnsafeMutableRawPointer in
                let block = malloc(blockSize)!
                memset(block, 1, blockSize)
                return block
            }
            let pin = malloc(blockSize)!  // above the freed blocks
            defer { free(pin) }
            blocks.forEach { free($0) }
            let before = try #require(Self.residentKiB("RssAnon:"))
            ProcessMemory.trimMalloc()
            let after = try #require(Self.residentKiB("RssAnon:"))
            // 64 MiB were freed; at least half of it must leave the resident set.
            #expect(before - after >= 32 << 10, "RssAnon \(before) kB before the trim, \(after) kB after")
        #endif
    }

    private static func residentKiB(_ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field) {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}
