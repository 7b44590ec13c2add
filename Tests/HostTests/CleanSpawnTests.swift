import Foundation
import Host
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What every process llama-orch starts gets: default signals, the asked-for descriptors, its own session,
/// nothing else of the parent open, its working folder.
@Suite(.serialized) struct CleanSpawnTests {
    private static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    @Test func aChildStartsCleanWhateverTheParentIgnoresOrHoldsOpen() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        // The parent ignores SIGUSR2, blocks SIGUSR1 on this thread and holds a descriptor open without
        // close-on-exec.
        let previous = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, previous) }
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGUSR1)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let held = open(folder.path, O_RDONLY)
        defer { close(held) }
        try #require(held > 3, "the held descriptor must not be one the child has anyway")

        let script =
            #"grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd | sort -n | tr '\n' ' '; echo; pwd; echo $$ $(cut -d' ' -f6 /proc/$$/stat); echo to-stderr >&2"#
        let output = folder.path + "/out.txt"
        let spawned = CleanSpawn.spawn(
            ["/bin/sh", "-c", script], environment: ["PATH=/usr/bin:/bin"],
            stdin: .file("/dev/null", flags: O_RDONLY), stdout: .file(output, flags: O_WRONLY | O_CREAT | O_TRUNC),
            stderr: .descriptor(1), newSession: true, closeOthers: true, workingDirectory: folder.path)
        let pid = try spawned.get()
        #expect(Self.wait(pid) == 0)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count == 6, "\(lines)")
        #expect(lines[0] == "SigBlk:\t0000000000000000")
        // SIGUSR2 is back to its default (glibc's own two internal signals may show as ignored).
        let ignored = UInt64(lines[1].split(separator: "\t").last ?? "", radix: 16)
        #expect(ignored.map { $0 & (1 << UInt64(SIGUSR2 - 1)) } == 0, "\(lines[1])")
        // 0, 1, 2 and the one `ls` opens to read the folder: not the parent's.
        #expect(lines[2].split(separator: " ").count == 4, "\(lines[2])")
        #expect(!lines[2].split(separator: " ").contains("\(held)"), "\(lines[2])")
        #expect(
            URL(fileURLWithPath: lines[3]).resolvingSymlinksInPath()
                == URL(fileURLWithPath: folder.path).resolvingSymlinksInPath())
        // Session id (field 6) is the shell's own pid: a session of its own.
        let stat = lines[4].split(separator: " ")
        #expect(stat.count == 2 && stat[0] == stat[1], "\(lines[4])")
        #expect(lines[5] == "to-stderr")
    }

    @Test func aMissingProgramIsAnErrorNamingIt() {
        let spawned = CleanSpawn.spawn(["/nonexistent/llama-server"])
        #expect(throws: POSIXError(.ENOENT)) { try spawned.get() }
        #expect(throws: POSIXError(.ENOENT)) { try CleanSpawn.spawn([]).get() }
    }
}
