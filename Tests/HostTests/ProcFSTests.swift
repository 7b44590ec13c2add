import Foundation
import Host
import TestSupport
import Testing

@testable import Host

#if canImport(Glibc)
    import Glibc
#endif

/// Parsing of `/proc` text that the identity checks and the port holder lookup rely on.
struct ProcFSTests {
    @Test func statFieldsAreCountedAfterTheLastParenthesis() throws {
        // A command name with spaces and parentheses must not shift the fields.
        let line =
            "4242 (evil) name (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 3 0 987654 1000000 200 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
        let stat = try #require(ProcFS.parseStat(line))
        #expect(stat.state == "S")
        #expect(stat.parent == 1)
        #expect(stat.processGroup == 4242)
        #expect(stat.startTime == 987_654)
        #expect(ProcFS.parseStat("garbage") == nil)
        #expect(ProcFS.parseStat("1 (x) S 1 2") == nil)
        // Numbers that aren't, or don't fit: no stat rather than a wrong one.
        let fields = line.split(separator: " ").map(String.init)
        for (index, bad) in [(5, "12x"), (5, "-"), (6, "99999999999"), (23, "-5"), (23, "184467440737095516150")] {
            var broken = fields
            broken[index] = bad
            #expect(ProcFS.parseStat(broken.joined(separator: " ")) == nil, "\(bad) at \(index)")
        }
        // A trailing newline, as read from /proc, and more than one space between fields.
        #expect(ProcFS.parseStat(line.replacingOccurrences(of: " S 1 ", with: "  S  1 ") + "\n") == stat)
        // The real line of a process with spaces and parentheses in its name (the name of the link it was run
        // through), beside what the system calls say.
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let odd = folder.path + "/odd) (name ("
        try FileManager.default.createSymbolicLink(atPath: odd, withDestinationPath: "/bin/sleep")
        let child = TestChild(odd, ["30"])
        defer { child.stop() }
        try child.start()
        #expect(ProcFS.commandName(child.pid) == "odd) (name (")
        let real = try #require(ProcFS.stat(child.pid))
        #expect(real.parent == getpid())
        #expect(real.processGroup == getpgid(child.pid))
        #expect(real.session == getsid(child.pid))
        // Alive: running, sleeping, or (on a busy machine, still paging its code in) waiting on the disk.
        #expect("RSD".contains(real.state), "state \(real.state)")
    }

    @Test func ownStatMatchesOwnProcess() throws {
        let stat = try #require(ProcFS.stat(getpid()))
        #expect(stat.startTime > 0)
        #expect(ProcFS.environment(getpid())?["PATH"] != nil)
    }

    @Test func listeningSocketsAreFoundByPort() {
        let table = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0
               1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 23456 1 0
               2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 34567 1 0
            """
        #expect(PortInspector.listeningInodes(in: table, port: 8080) == ["12345"])
        #expect(PortInspector.listeningInodes(in: table, port: 8081) == ["34567"])
        #expect(PortInspector.listeningInodes(in: table, port: 8082).isEmpty)
    }

    @Test func linesAreReadAcrossChunksWithoutLosingOrJoiningAny() throws {
        // 20,000 lines of varied length: many cross the 64 KiB chunk boundaries; the last has no newline.
        let lines = (0..<20_000).map { "line \($0) " + String(repeating: "x", count: $0 % 37) }
        let path = NSTemporaryDirectory() + "procfs-lines-\(getpid()).txt"
        defer { unlink(path) }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var seen: [String] = []
        ProcFS.forEachLine(of: path) { seen.append(String($0)) }
        #expect(seen == lines)
    }

    @Test func aRealListenerIsFoundInTheKernelsTables() throws {
        let listener = try LoopbackListener()
        defer { listener.close() }
        let port = listener.port
        let sockets = PortInspector.listeningSockets(on: port)
        #expect(sockets.count == 1)
        #expect(PortInspector.holds(pid: getpid(), anyOf: sockets))
        #expect(PortInspector.hexPort(8080) == "1F90" && PortInspector.hexPort(80) == "0050")
    }
}
