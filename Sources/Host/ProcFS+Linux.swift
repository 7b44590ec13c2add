import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads `/proc`: process status lines, environments and open files. Linux only; every reader returns
/// `nil` for a process that is gone or that this user may not read, never crashes on odd contents.
public enum ProcFS {
    /// The fields of `/proc/<pid>/stat` that the supervisor uses.
    public struct Stat: Equatable {
        /// One letter: R running, S sleeping, T stopped, Z zombie, ...
        public var state: Character
        public var parent: Int32
        public var processGroup: Int32
        public var session: Int32
        /// Field 22: clock ticks since boot at which the process started.
        public var startTime: UInt64
    }

    /// Parses a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and parentheses, so the
    /// fields are counted after the last `)`.
    public static func parseStat(_ line: String) -> Stat? {
        Array(line.utf8).withUnsafeBufferPointer { parseStat($0) }
    }

    /// The same on the bytes as read, byte by byte: a health check reads this for every server every interval.
    public static func parseStat(_ bytes: UnsafeBufferPointer<UInt8>) -> Stat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var index = close + 1
        // Field 3 (state) is number 0 here, field N is number N - 3; fields 3 to 22 are read.
        var values = (state: UInt8(0), parent: Int32(0), group: Int32(0), session: Int32(0), start: UInt64(0))
        for number in 0...19 {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            let first = index
            while index < bytes.count, bytes[index] != UInt8(ascii: " "), bytes[index] != UInt8(ascii: "\n") {
                index += 1
            }
            guard index > first else { return nil }
            let field = UnsafeBufferPointer(rebasing: bytes[first..<index])
            switch number {
            case 0: values.state = field[0]
            case 1, 2, 3:
                guard let value = decimal(field), let narrow = Int32(exactly: value) else { return nil }
                if number == 1 {
                    values.parent = narrow
                } else if number == 2 {
                    values.group = narrow
                } else {
                    values.session = narrow
                }
            case 19:
                guard let value = decimal(field), let start = UInt64(exactly: value) else { return nil }
                values.start = start
            default: break
            }
        }
        return Stat(
            state: Character(Unicode.Scalar(values.state)), parent: values.parent, processGroup: values.group,
            session: values.session, startTime: values.start)
    }

    /// A decimal number with an optional leading `-`; nil for anything else or past `Int64`.
    private static func decimal(_ digits: UnsafeBufferPointer<UInt8>) -> Int64? {
        let negative = digits.first == UInt8(ascii: "-")
        let body = negative ? UnsafeBufferPointer(rebasing: digits.dropFirst()) : digits
        guard !body.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in body {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflowTimes) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowSum) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflowTimes, !overflowSum else { return nil }
            value = sum
        }
        return negative ? -value : value
    }

    /// `/proc/<pid>/stat`, read into a buffer on the stack (the line is well under 1 KiB).
    public static func stat(_ pid: Int32) -> Stat? {
        let descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            var count = 0
            while count < buffer.count {
                let got = read(descriptor, buffer.baseAddress! + count, buffer.count - count)
                if got < 0, errno == EINTR { continue }
                if got <= 0 { break }
                count += got
            }
            return parseStat(UnsafeBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// The environment of a process (`/proc/<pid>/environ`), as it was when the process last called `exec`.
    public static func environment(_ pid: Int32) -> [String: String]? {
        guard let bytes = readBytes("/proc/\(pid)/environ") else { return nil }
        var environment: [String: String] = [:]
        for entry in bytes.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment
    }

    /// The command line a process was started with (`/proc/<pid>/cmdline`), one element per argument.
    public static func commandLine(_ pid: Int32) -> [String]? {
        guard let bytes = readBytes("/proc/\(pid)/cmdline"), !bytes.isEmpty else { return nil }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast(bytes.last == 0 ? 1 : 0).map {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// Seconds since 1970 of a process start time in clock ticks since boot (`Stat.startTime`), from the boot
    /// time in `/proc/stat`; `nil` when that can't be read.
    public static func epochSeconds(ofStartTime ticks: UInt64) -> Double? {
        var bootTime: Double?
        forEachLine(of: "/proc/stat") { line in
            if line.hasPrefix("btime ") { bootTime = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) }
        }
        let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
        guard let bootTime, ticksPerSecond > 0 else { return nil }
        return bootTime + Double(ticks) / Double(ticksPerSecond)
    }

    /// The short command name (`/proc/<pid>/comm`, at most 15 characters).
    public static func commandName(_ pid: Int32) -> String? {
        readText("/proc/\(pid)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every process id in `/proc`.
    public static func allPIDs() -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return names.compactMap { Int32($0) }
    }

    /// Processes of group `group` that are alive (zombies, already dead, don't count).
    public static func livingMembers(ofGroup group: Int32) -> [Int32] {
        allPIDs().filter { pid in
            guard let stat = stat(pid) else { return false }
            return stat.processGroup == group && stat.state != "Z" && stat.state != "X"
        }
    }

    /// Calls `body` with each line of a file read 64 KiB at a time (the last, unterminated line too); the
    /// file's whole text is never held at once.
    public static func forEachLine(of path: String, _ body: (Substring) -> Void) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        var pending: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending.append(contentsOf: buffer[0..<count])
            guard let last = pending.lastIndex(of: 10) else { continue }
            String(decoding: pending[...last], as: UTF8.self).split(separator: "\n").forEach(body)
            pending.removeSubrange(...last)
        }
        if !pending.isEmpty { String(decoding: pending, as: UTF8.self).split(separator: "\n").forEach(body) }
    }

    public static func readText(_ path: String) -> String? {
        readBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads a whole file with plain `read(2)` (files in /proc report size 0, so no size is trusted).
    public static func readBytes(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return result.isEmpty ? nil : result
            }
            if count == 0 { return result }
            result.append(contentsOf: buffer[0..<count])
        }
    }
}
