import Foundation
import Supervisor
import TestSupport
import Testing

@testable import Daemon

#if canImport(Glibc)
    import Glibc
#endif

/// `logs/daemon.log` is rotated by size: renamed, and the daemon's descriptors moved to a fresh file.
@Suite struct DaemonLogTests {
    private static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    private static func write(_ descriptor: Int32, _ text: String) {
        _ = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
    }

    @Test func rotationRenamesAndMovesEveryDescriptorThatWroteThere() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/daemon.log"
        let error = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        let output = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        let elsewhere = open(folder.path + "/other.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        defer { [error, output, elsewhere].forEach { close($0) } }
        Self.write(error, String(repeating: "first\n", count: 20))
        #expect(DaemonLog.rotateIfNeeded(path, maxBytes: 1000, keep: 2, descriptors: [error, output]) == nil)
        #expect(Self.size(path) == 120)

        // The log's writer is not the first descriptor: left alone, however large.
        #expect(DaemonLog.rotateIfNeeded(path, maxBytes: 100, keep: 2, descriptors: [elsewhere, error]) == nil)
        #expect(!FileManager.default.fileExists(atPath: path + ".1"))

        #expect(
            DaemonLog.rotateIfNeeded(path, maxBytes: 100, keep: 2, descriptors: [error, output, elsewhere]) == .rotated)
        #expect(Self.size(path + ".1") == 120)
        Self.write(error, "second from stderr\n")
        Self.write(output, "second from stdout\n")
        Self.write(elsewhere, "not the log\n")
        #expect(
            try String(contentsOfFile: path, encoding: .utf8) == "second from stderr\nsecond from stdout\n")
        #expect(try String(contentsOfFile: folder.path + "/other.log", encoding: .utf8) == "not the log\n")

        // Two more rotations: `keep` files stay, the newest as `.1`.
        Self.write(error, String(repeating: "third\n", count: 20))
        #expect(DaemonLog.rotateIfNeeded(path, maxBytes: 100, keep: 2, descriptors: [error, output]) == .rotated)
        Self.write(error, String(repeating: "fourth\n", count: 20))
        #expect(DaemonLog.rotateIfNeeded(path, maxBytes: 100, keep: 2, descriptors: [error, output]) == .rotated)
        #expect(try String(contentsOfFile: path + ".1", encoding: .utf8).hasPrefix("fourth\n"))
        #expect(try String(contentsOfFile: path + ".2", encoding: .utf8).hasPrefix("second from stderr\n"))
        #expect(!FileManager.default.fileExists(atPath: path + ".3"))
        #expect(Self.size(path) == 0)
    }

    @Test func aRotationThatCannotBeDoneSaysWhyAndKeepsTheLog() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/daemon.log"
        let error = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(error) }
        Self.write(error, String(repeating: "first\n", count: 20))
        // A folder where the fresh log would be made: even root can't open it for writing.
        try FileManager.default.createDirectory(atPath: path + ".new", withIntermediateDirectories: false)
        let outcome = DaemonLog.rotateIfNeeded(path, maxBytes: 100, keep: 2, descriptors: [error])
        guard case .failed(let reason)? = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(reason.hasPrefix("cannot create \(path).new: ") && reason.contains("directory"), "\(reason)")
        Self.write(error, "still here\n")
        #expect(Self.size(path) == 131)
        #expect(!FileManager.default.fileExists(atPath: path + ".1"))

        // A file `.1` can't replace (a folder with something in it): the new file is removed again, the log kept.
        try FileManager.default.removeItem(atPath: path + ".new")
        try FileManager.default.createDirectory(atPath: path + ".1/inside", withIntermediateDirectories: true)
        let second = DaemonLog.rotateIfNeeded(path, maxBytes: 100, keep: 1, descriptors: [error])
        #expect(second == .failed("cannot rename \(path) to \(path).1: Is a directory"), "\(second)")
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))
        #expect(Self.size(path) == 131)
    }
}
