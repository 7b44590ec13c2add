import Foundation
import Host

/// Looks at the logs of every running server from one thread: a daemon with fifty instances wakes once per
/// check interval for all of them, not fifty times.
///
/// A supervisor registers its server's logs while the server runs (`watch`) and takes them off when it ends
/// (`unwatch`); the daemon registers a check of its own `daemon.log` (`watch(every:_:)`). The thread checks at
/// the shortest interval any registration asks for and sleeps while nothing is registered. A server's logs count
/// only once written to (`LogWrites`, inotify): while fifty servers write nothing, the thread wakes for the
/// daemon's own checks alone. Rotation (a copy, then a truncation) runs on that thread, so it never holds up a
/// supervisor, a probe or the server, which keeps appending to its files.
public final class LogRotator: @unchecked Sendable {
    /// The daemon's rotator.
    public static let shared = LogRotator()

    private struct Registration {
        var check: @Sendable (_ cancelled: () -> Bool) -> Void
        var interval: Duration
        /// Due only while `writes` has a log marked written (a server's logs, all of them watched).
        var whenWritten: Bool
    }

    private let condition = MonotonicCondition()
    private var registrations: [UInt64: Registration] = [:]
    private var nextID: UInt64 = 0
    private var started = false
    /// The registration whose check runs now (outside the lock), so that `unwatch` can wait for it to end.
    private var checking: UInt64?
    /// Which of the servers' logs were written to.
    let writes = LogWrites()

    init() {
        writes.onWritten = { [weak self] in self?.wake() }
    }

    /// Checks `logs` every `interval` (or more often) until `unwatch` with the returned id. A rotation that
    /// fails goes to `onFailure` (the log's path and why) once, and again only after one has worked in between.
    public func watch(
        _ logs: InstanceLogs, rotation: LogRotation, every interval: Duration,
        onFailure: @escaping @Sendable (_ path: String, _ reason: String) -> Void = { _, _ in }
    ) -> UInt64 {
        let reports = ReportOnce()
        let sizes = LogSizes(logs, writes: writes)
        writes.pauseAtMost(interval)
        return register(every: interval, whenWritten: sizes.allWatched) { cancelled in
            // Most checks end here, with no system call at all; past the limit the paths decide.
            guard sizes.mayExceed(rotation.maxBytes) else { return }
            for (path, outcome) in logs.rotateIfNeeded(rotation, cancelled: cancelled) {
                switch outcome {
                case .rotated: reports.succeeded(path)
                case .cancelled: break
                case .failed(let reason): if reports.failed(path) { onFailure(path, reason) }
                }
            }
        }
    }

    /// Runs `check` (which rotates a log of its own when it has grown) every `interval` or more often, on the
    /// rotation thread, until `unwatch` with the returned id. `check` is handed a function that says whether
    /// `unwatch` has been called since it began: a long copy should stop then.
    public func watch(
        every interval: Duration, _ check: @escaping @Sendable (_ cancelled: () -> Bool) -> Void
    )
        -> UInt64
    {
        register(every: interval, whenWritten: false, check)
    }

    private func register(
        every interval: Duration, whenWritten: Bool, _ check: @escaping @Sendable (_ cancelled: () -> Bool) -> Void
    ) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        nextID += 1
        registrations[nextID] = Registration(check: check, interval: interval, whenWritten: whenWritten)
        if !started {
            started = true
            Thread.start(named: "orch logs") { [self] in run() }
        }
        // A shorter interval than the thread sleeps by now takes effect at once (broadcast: an `unwatch` may be
        // waiting on the same condition).
        condition.broadcast()
        return nextID
    }

    /// Stops checking the logs registered under `id`; returns once no check of them runs, so nothing touches
    /// those logs afterwards. A rotation of them under way stops at its next chunk (64 KiB) rather than
    /// finishing its copy, so this never waits long, and never for another registration's rotation.
    public func unwatch(_ id: UInt64) {
        condition.lock()
        registrations.removeValue(forKey: id)
        while checking == id { condition.wait() }
        condition.unlock()
    }

    /// A log was written to: its registration may be due now.
    private func wake() {
        condition.withLock { condition.broadcast() }
    }

    private func run() {
        condition.lock()
        // When the next pass is due; a registration can bring it forward, never push it back (servers that
        // restart more often than the interval must not keep every check from running).
        var due: ContinuousClock.Instant?
        while true {
            while registrations.isEmpty {
                due = nil
                condition.wait()
            }
            let written = writes.anyWritten
            guard
                let interval = registrations.values.lazy.filter({ !$0.whenWritten || written }).map(\.interval)
                    .min()
            else {
                // Only servers' logs, none written to: nothing is due until one is (`wake`) or a registration comes.
                due = nil
                condition.wait()
                continue
            }
            let soonest = ContinuousClock.now.advanced(by: max(interval, .milliseconds(1)))
            let next = min(due ?? soonest, soonest)
            due = next
            // Signalled (a new registration) or woken early: look again at what is due.
            if condition.wait(until: next) || ContinuousClock.now < next { continue }
            due = nil
            for id in registrations.keys.sorted() {
                // Each one still registered when its turn comes; `unwatch` may run while the lock is free.
                guard let registration = registrations[id] else { continue }
                checking = id
                condition.unlock()
                registration.check { [self] in condition.withLock { registrations[id] == nil } }
                condition.lock()
                checking = nil
                condition.broadcast()
            }
        }
    }
}

/// A server's two live logs held open for reading while it runs, so that a size check costs an `lseek` to the
/// end of the descriptor rather than a `stat` of each path (with fifty servers, looking up those paths every few
/// seconds was most of what an idle daemon did), and only for a log written to since the last check
/// (`LogWrites`): a quiet server's logs cost nothing. Rotation truncates in place, so the descriptors stay on
/// the live files. A log that could not be opened is looked at by path each time.
final class LogSizes: @unchecked Sendable {
    private let descriptors: [Int32]
    /// `LogWrites` watches, one per descriptor (-1: not watched, so always looked at).
    private let watches: [Int32]

    private let writes: LogWrites

    init(_ logs: InstanceLogs, writes: LogWrites) {
        self.writes = writes
        descriptors = [logs.stdoutPath, logs.stderrPath].map(Self.openForReading)
        watches = zip([logs.stdoutPath, logs.stderrPath], descriptors).map { path, descriptor in
            descriptor >= 0 ? writes.watch(path) : -1
        }
    }

    /// Whether both logs are held open and watched (the check is then due only after a write).
    var allWatched: Bool { !watches.contains(-1) }

    deinit {
        for watch in watches where watch >= 0 { writes.unwatch(watch) }
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }

    private static func openForReading(_ path: String) -> Int32 {
        open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
    }

    /// Whether either log may be over `limit`: true when one held open is, or when one isn't held open.
    func mayExceed(_ limit: Int) -> Bool {
        for (descriptor, watch) in zip(descriptors, watches) {
            guard descriptor >= 0 else { return true }
            if watch >= 0 && !writes.takeWritten(watch) { continue }
            // The descriptor is only ever used for this: moving its offset to the end is harmless.
            let size = lseek(descriptor, 0, SEEK_END)
            if size < 0 || size > limit {
                // Looked at again next time, written to or not, until it is back under the limit (a rotation
                // that failed is retried).
                if watch >= 0 { writes.markWritten(watch) }
                return true
            }
        }
        return false
    }
}

/// Which watched logs were written to, from one inotify descriptor per rotator (`IN_MODIFY`: writes and
/// truncations). A thread of its own waits for events (started with the first watch), notes them and calls
/// `onWritten`, then pauses (a second at most), so that a server writing line after line costs one wake-up a
/// pause (the kernel merges the events in between), and servers writing nothing cost none. `takeWritten` answers per
/// log. A log is taken as written when first watched, and all are when the kernel's queue overflowed.
final class LogWrites: @unchecked Sendable {
    /// Called (on the waiting thread) after new writes were noted.
    var onWritten: (@Sendable () -> Void)?
    private var waiting = false
    /// How long the waiting thread pauses after noting writes: a second, or the shortest check interval of a
    /// watched log when that is shorter (a log checked every 50 ms must be seen written within that).
    private var pause: Duration = .seconds(1)

    func pauseAtMost(_ interval: Duration) {
        lock.withLock { pause = min(pause, max(interval, .milliseconds(1))) }
    }

    private let descriptor: Int32
    private let lock = NSLock()
    /// Watch descriptor → how many `LogSizes` use it (the kernel gives the same one for the same file).
    private var users: [Int32: Int] = [:]
    private var written: Set<Int32> = []

    init() {
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
    }

    /// Starts watching `path`; -1 when it can't be watched.
    func watch(_ path: String) -> Int32 {
        guard descriptor >= 0 else { return -1 }
        let watch = inotify_add_watch(descriptor, path, UInt32(IN_MODIFY))
        guard watch >= 0 else { return -1 }
        let start = lock.withLock {
            users[watch, default: 0] += 1
            written.insert(watch)
            defer { waiting = true }
            return !waiting
        }
        if start { Thread.start(named: "orch log writes") { [self] in waitForWrites() } }
        return watch
    }

    func unwatch(_ watch: Int32) {
        let last = lock.withLock { () -> Bool in
            let left = (users[watch] ?? 1) - 1
            users[watch] = left > 0 ? left : nil
            if left <= 0 { written.remove(watch) }
            return left <= 0
        }
        if last { _ = inotify_rm_watch(descriptor, watch) }
    }

    /// Whether any watched log is marked written.
    var anyWritten: Bool { lock.withLock { !written.isEmpty } }

    private func waitForWrites() {
        var ready = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            ready.revents = 0
            guard poll(&ready, 1, -1) > 0 else {
                if errno != EINTR { usleep(1_000_000) }
                continue
            }
            drain()
            onWritten?()
            // What servers write meanwhile merges into a few events in the kernel's queue.
            let pause = lock.withLock { self.pause }
            usleep(UInt32(pause.components.seconds * 1_000_000 + pause.components.attoseconds / 1_000_000_000_000))
        }
    }

    /// Reads the events queued since the last call.
    func drain() {
        guard descriptor >= 0 else { return }
        withUnsafeTemporaryAllocation(byteCount: 4096, alignment: 8) { buffer in
            while true {
                let got = read(descriptor, buffer.baseAddress, buffer.count)
                if got < 0, errno == EINTR { continue }
                guard got > 0 else { return }
                var offset = 0
                lock.lock()
                while offset + MemoryLayout<inotify_event>.size <= got {
                    let event = buffer.baseAddress!.advanced(by: offset).loadUnaligned(as: inotify_event.self)
                    if event.mask & UInt32(IN_Q_OVERFLOW) != 0 {
                        written.formUnion(users.keys)
                    } else if users[event.wd] != nil {
                        written.insert(event.wd)
                    }
                    offset += MemoryLayout<inotify_event>.size + Int(event.len)
                }
                lock.unlock()
            }
        }
    }

    /// Has the log under `watch` looked at next time as if written to.
    func markWritten(_ watch: Int32) {
        lock.withLock {
            if users[watch] != nil { _ = written.insert(watch) }
        }
    }

    /// Whether the log under `watch` was written to since the last time this was asked about it.
    func takeWritten(_ watch: Int32) -> Bool {
        lock.withLock { written.remove(watch) != nil }
    }
}
