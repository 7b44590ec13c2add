import CSupervisorShims
import ControlAPI
import Daemon
import Foundation
import TestSupport
import Testing

/// The daemon gives back the code pages and heap a burst of work left resident, once it has been quiet.
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
        let trim = IdleTrim(quietFor: .milliseconds(200)) { trims.increment() }
        trim.noteActivity()
        try await Task.sleep(for: .milliseconds(100))
        trim.noteActivity()
        #expect(trims.current == 0)
        let deadline = ContinuousClock.now.advanced(by: .seconds(5))
        while trims.current == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(trims.current == 1)
        try await Task.sleep(for: .milliseconds(800))
        #expect(trims.current == 1, "one trim per quiet spell")
    }

    /// The daemon trims itself: a few seconds after `up`, with no request since, its resident code is smaller.
    @Test func theDaemonTrimsOnceQuietAfterAnUp() async throws {
        #if os(Linux)
            let harness = try DaemonHarness("idle-trim")
            defer { harness.cleanUp() }
            try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
            try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
            let daemon = try #require(harness.daemonPID)
            let busy = try #require(Self.residentFileKiB(of: "\(daemon)"))
            var quiet = busy
            let trimmed = try await DaemonHarness.eventually(.seconds(15)) {
                quiet = Self.residentFileKiB(of: "\(daemon)") ?? busy
                return quiet < busy * 3 / 4
            }
            #expect(trimmed, "the daemon's RssFile stayed at \(quiet) kB (\(busy) kB after up)")
            #expect(try harness.ps().first { $0.name == "alpha" }?.health == "healthy")
        #endif
    }

    /// The real release, in this test process: the resident pages of the test binary's code drop, and the code
    /// keeps running (it comes back from the page cache).
    @Test func releasingCodePagesShrinksTheResidentFileBackedMemoryAndCodeStillRuns() throws {
        #if os(Linux)
            // Code that runs before the release (its pages then dropped) runs again after it and computes the same.
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let encode = { String(decoding: try encoder.encode(["still": "running", "and": "right"]), as: UTF8.self) }
            #expect(try encode() == #"{"and":"right","still":"running"}"#)
            let before = try #require(Self.residentFileKiB())
            let released = csupervisor_release_code_pages()
            let after = try #require(Self.residentFileKiB())
            #expect(released > 0)
            #expect(after < before, "RssFile \(before) kB before, \(after) kB after")
            #expect(try encode() == #"{"and":"right","still":"running"}"#)
        #endif
    }

    /// In a private mapping of a file, the pages read are released and the page written is kept, with what
    /// was written in it.
    @Test func onlyUnwrittenPagesOfAFileMappingAreReleased() throws {
        #if os(Linux)
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let path = NSTemporaryDirectory() + "idle-trim-\(UUID().uuidString)"
            try #require(FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: 3 * page)))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let descriptor = open(path, O_RDONLY)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            let mapping = try #require(
                mmap(nil, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0), "mmap")
            try #require(mapping != MAP_FAILED)
            defer { munmap(mapping, 3 * page) }
            let bytes = mapping.assumingMemoryBound(to: UInt8.self)
            #expect(bytes[0] == 7 && bytes[2 * page] == 7)  // read: file pages
            bytes[page] = 42  // written: a private copy
            let released = csupervisor_release_unwritten_pages(mapping, 3 * page)
            #expect(released == 2 * page)
            #expect(bytes[page] == 42, "the written page keeps what was written")
            #expect(bytes[0] == 7 && bytes[2 * page] == 7, "released pages come back from the file")
        #endif
    }

    private static func residentFileKiB(of process: String = "self") -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("RssFile:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}
