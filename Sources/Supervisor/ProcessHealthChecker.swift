import Foundation
import Host
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#endif

/// `process`: the server process exists and is not stopped (SIGSTOP) or a zombie. The weakest check; for
/// servers that listen nowhere the supervisor can reach.
public struct ProcessHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        guard let stat = ProcessStatFiles.shared.stat(target.pid) else {
            return .failed("process \(target.pid) is gone")
        }
        switch stat.state {
        case "T", "t": return .failed("process \(target.pid) is stopped")
        case "Z", "X": return .failed("process \(target.pid) has exited")
        default: return .healthy
        }
    }
}

/// `/proc/<pid>/stat` of each probed process, held open and read again at offset 0 for each probe: opening
/// and closing the file (a path walk in procfs) cost twice what reading it does.
///
/// A descriptor stays with the process it was opened for: once that process is gone, reading fails (even if
/// another process got its pid), and the entry is dropped. Entries no probe has read for ten minutes (a server
/// stopped, an instance switched to another checker) are closed by the next read after a minute.
final class ProcessStatFiles: @unchecked Sendable {
    static let shared = ProcessStatFiles()

    private struct Entry {
        var descriptor: Int32
        var lastRead: ContinuousClock.Instant
    }

    private let lock = NSLock()
    private var entries: [Int32: Entry] = [:]
    private var lastSweep = ContinuousClock.now
    static let unusedFor: Duration = .seconds(600)

    /// How many descriptors are held (tests).
    var count: Int { lock.withLock { entries.count } }

    /// The process's `stat` line, parsed; `nil` when it is gone.
    func stat(_ pid: Int32) -> ProcFS.Stat? {
        let now = ContinuousClock.now
        var closing: [Int32] = []
        var descriptor: Int32 = lock.withLock {
            if lastSweep.duration(to: now) >= .seconds(60) {
                lastSweep = now
                for (key, entry) in entries where entry.lastRead.duration(to: now) >= Self.unusedFor {
                    closing.append(entry.descriptor)
                    entries.removeValue(forKey: key)
                }
            }
            guard var entry = entries[pid] else { return -1 }
            entry.lastRead = now
            entries[pid] = entry
            return entry.descriptor
        }
        for old in closing { close(old) }
        if descriptor < 0 {
            descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { return nil }
            let replaced = lock.withLock {
                entries.updateValue(Entry(descriptor: descriptor, lastRead: now), forKey: pid)
            }
            if let replaced { close(replaced.descriptor) }
        }
        if let stat = Self.read(descriptor) { return stat }
        // Gone (or unreadable): forget it, so that the next probe looks afresh.
        let removed = lock.withLock { () -> Bool in
            guard entries[pid]?.descriptor == descriptor else { return false }
            entries.removeValue(forKey: pid)
            return true
        }
        if removed { close(descriptor) }
        return nil
    }

    private static func read(_ descriptor: Int32) -> ProcFS.Stat? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            var count = 0
            while count < buffer.count {
                let got = pread(descriptor, buffer.baseAddress! + count, buffer.count - count, off_t(count))
                if got < 0, errno == EINTR { continue }
                if got <= 0 { break }
                count += got
            }
            return ProcFS.parseStat(UnsafeBufferPointer(rebasing: buffer[0..<count]))
        }
    }
}
