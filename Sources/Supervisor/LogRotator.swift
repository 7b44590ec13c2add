import Foundation

/// Looks at the logs of every running server from one thread: a daemon with fifty instances wakes once per
/// check interval for all of them, not fifty times.
///
/// A supervisor registers its server's logs while the server runs (`watch`) and takes them off when it ends
/// (`unwatch`); the daemon registers a check of its own `daemon.log` (`watch(every:_:)`). The thread checks at
/// the shortest interval any registration asks for and sleeps while nothing is registered. Rotation (a copy,
/// then a truncation) runs on that thread, so it never holds up a supervisor, a probe or the server, which
/// keeps appending to its files.
public final class LogRotator: @unchecked Sendable {
    /// The daemon's rotator.
    public static let shared = LogRotator()

    private struct Registration {
        var check: @Sendable (_ cancelled: () -> Bool) -> Void
        var interval: Duration
    }

    private let condition = MonotonicCondition()
    private var registrations: [UInt64: Registration] = [:]
    private var nextID: UInt64 = 0
    private var started = false
    /// The registration whose check runs now (outside the lock), so that `unwatch` can wait for it to end.
    private var checking: UInt64?

    init() {}

    /// Checks `logs` every `interval` (or more often) until `unwatch` with the returned id. A rotation that
    /// fails goes to `onFailure` (the log's path and why) once, and again only after one has worked in between.
    public func watch(
        _ logs: InstanceLogs, rotation: LogRotation, every interval: Duration,
        onFailure: @escaping @Sendable (_ path: String, _ reason: String) -> Void = { _, _ in }
    ) -> UInt64 {
        let reports = ReportOnce()
        let sizes = LogSizes(logs)
        return watch(every: interval) { cancelled in
            // Most checks end here: two `fstat`s, no path lookups. Past the limit the paths decide.
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
        condition.lock()
        defer { condition.unlock() }
        nextID += 1
        registrations[nextID] = Registration(check: check, interval: interval)
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
            let interval = registrations.values.map(\.interval).min() ?? .seconds(5)
            let soonest = ContinuousClock.now.advanced(by: max(interval, .milliseconds(1)))
            let next = min(due ?? soonest, soonest)
            due = next
            // Signalled (a new registration) or woken early: look again at what is due.
            if condition.wait(until: next) || ContinuousClock.now < next { continue }
            due = nil
            LogWrites.shared.drain()
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

    init(_ logs: InstanceLogs) {
        descriptors = [logs.stdoutPath, logs.stderrPath].map(Self.openForReading)
        watches = zip([logs.stdoutPath, logs.stderrPath], descriptors).map { path, descriptor in
            descriptor >= 0 ? LogWrites.shared.watch(path) : -1
        }
    }

    deinit {
        for watch in watches where watch >= 0 { LogWrites.shared.unwatch(watch) }
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }

    private static func openForReading(_ path: String) -> Int32 {
        open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
    }

    /// Whether either log may be over `limit`: true when one held open is, or when one isn't held open.
    func mayExceed(_ limit: Int) -> Bool {
        for (descriptor, watch) in zip(descriptors, watches) {
            guard descriptor >= 0 else { return true }
            if watch >= 0 && !LogWrites.shared.takeWritten(watch) { continue }
            // The descriptor is only ever used for this: moving its offset to the end is harmless.
            let size = lseek(descriptor, 0, SEEK_END)
            if size < 0 || size > limit {
                // Looked at again next time, written to or not, until it is back under the limit (a rotation
                // that failed is retried).
                if watch >= 0 { LogWrites.shared.markWritten(watch) }
                return true
            }
        }
        return false
    }
}

/// Which watched logs were written to, from one inotify descriptor for the whole daemon (`IN_MODIFY`: writes
/// and truncations). `drain` reads what the kernel queued, once per pass of the rotator; `takeWritten` then
/// answers per log. A log is taken as written when first watched, and all are when the kernel's queue
/// overflowed or inotify is missing (then every check looks at the size, as without it).
final class LogWrites: @unchecked Sendable {
    /// The daemon's (its rotator drains it before each pass).
    static let shared = LogWrites()

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
        lock.withLock {
            users[watch, default: 0] += 1
            written.insert(watch)
        }
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
