import Foundation
import TestSupport
import Testing

@testable import Daemon

#if canImport(Glibc)
    import Glibc
#endif

/// One daemon per root: the lock. A daemon killed a moment ago holds it until its last thread has gone; the next
/// one waits for that, and only for that.
@Suite(.serialized) struct DaemonLockTests {
    /// Another process holds `path` locked for `seconds`, as a daemon holds its lock (a shell takes it with
    /// util-linux `flock` on a descriptor and becomes `sleep`: one process, gone with the lock when killed).
    private static func holdLock(_ path: String, seconds: Double) throws -> TestChild {
        let holder = TestChild("/bin/sh", ["-c", "exec 9>>\"$0\" && flock 9 && exec sleep \(seconds)", path])
        try holder.start()
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let probe = open(path, O_RDWR)
            defer { close(probe) }
            if probe >= 0, flock(probe, LOCK_EX | LOCK_NB) != 0 { return holder }
            if probe >= 0 { flock(probe, LOCK_UN) }
            usleep(10_000)
        }
        holder.stop()
        throw CocoaError(.fileLocking)
    }

    @Test func aLockHeldWhileThePidFileNamesALiveProcessIsRefusedAtOnce() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("daemon.lock", "")
        let holder = try Self.holdLock(path, seconds: 30)
        defer { holder.stop() }
        let descriptor = open(path, O_RDWR)
        defer { close(descriptor) }
        let started = ContinuousClock.now
        let code = DaemonRunner.lockOnceTheLastDaemonIsGone(descriptor, holder: { holder.pid })
        #expect(code == EWOULDBLOCK)
        // Well before the 5 s a dead holder's lock is waited for.
        #expect(started.duration(to: .now) < .seconds(3), "a live daemon is not waited for")
    }

    @Test func aLockStillHeldAfterTheRecordedDaemonDiedIsWaitedFor() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = try folder.write("daemon.lock", "")
        let dead = try TestChild.sleeper()
        dead.stop()
        // The pid file names a daemon that is gone; the lock goes a moment later (its last thread exiting).
        let holder = try Self.holdLock(path, seconds: 0.5)
        defer { holder.stop() }
        let descriptor = open(path, O_RDWR)
        defer { close(descriptor) }
        let code = DaemonRunner.lockOnceTheLastDaemonIsGone(descriptor, holder: { dead.pid })
        #expect(code == 0, "errno \(code)")
        let second = open(path, O_RDWR)
        defer { close(second) }
        let again = DaemonRunner.lockOnceTheLastDaemonIsGone(second, holder: { dead.pid }, patience: .milliseconds(100))
        #expect(again == EWOULDBLOCK, "this process holds it now; waiting for a dead holder has a limit")
    }
}
