import CHostShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One thread that learns of the end of every watched process, through pidfds (Linux 5.3).
///
/// A pidfd becomes readable when its process ends, whether it is a child of the daemon or a server re-adopted
/// from a previous one, so a single `poll` over all of them replaces a thread per server blocked in `waitpid`
/// and the identity polling of re-adopted servers (which cost a re-adopting daemon a tenth of a core with 50
/// servers). Where the kernel has no pidfds, `shared` is `nil` and each process gets its own thread.
public final class ExitMonitor: @unchecked Sendable {
    /// The daemon's monitor, or `nil` without pidfds.
    public static let shared: ExitMonitor? = ExitMonitor()

    private let lock = NSLock()
    /// What to do when each watched pidfd becomes readable.
    private var handlers: [Int32: @Sendable () -> Void] = [:]
    private var started = false
    /// A pipe that interrupts the wait when a pidfd is added: read end, write end.
    private let wakeRead: Int32
    private let wakeWrite: Int32

    private init?() {
        let own = chost_pidfd_open(getpid())
        guard own >= 0 else { return nil }
        close(own)
        var ends: [Int32] = [-1, -1]
        guard chost_pipe_cloexec_nonblock(&ends) == 0 else { return nil }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
    }

    /// A pidfd for `pid`, or `nil` when there is none (the process is gone and reaped, or no pidfds).
    public static func open(_ pid: Int32) -> Int32? {
        let descriptor = chost_pidfd_open(pid)
        return descriptor >= 0 ? descriptor : nil
    }

    /// Calls `handler` once, on the monitor's thread, when the process behind `pidfd` has ended; the monitor
    /// owns `pidfd` from now on and closes it then. The handler must be quick: it holds up every other exit.
    public func watch(_ pidfd: Int32, _ handler: @escaping @Sendable () -> Void) {
        lock.lock()
        handlers[pidfd] = handler
        if !started {
            started = true
            Thread.start(named: "orch exits") { [self] in run() }
        }
        lock.unlock()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// How many processes are watched now.
    public var count: Int { lock.withLock { handlers.count } }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 64)
        var entries: [pollfd] = []
        while true {
            entries.removeAll(keepingCapacity: true)
            entries.append(pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0))
            lock.lock()
            for descriptor in handlers.keys {
                entries.append(pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0))
            }
            lock.unlock()
            guard poll(&entries, nfds_t(entries.count), -1) > 0 else {
                // EINTR; anything else (ENOMEM) is waited out rather than spun on.
                if errno != EINTR { usleep(10_000) }
                continue
            }
            if entries[0].revents != 0 { while read(wakeRead, &buffer, buffer.count) > 0 {} }
            for entry in entries.dropFirst() where entry.revents != 0 {
                lock.lock()
                let handler = handlers.removeValue(forKey: entry.fd)
                lock.unlock()
                close(entry.fd)
                handler?()
            }
        }
    }
}
