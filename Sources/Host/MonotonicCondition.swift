import CHostShims

/// A lock and condition like `NSCondition`, whose timed waits are measured on the monotonic clock. On Linux
/// `NSCondition.wait(until:)` waits for a wall-clock date: setting the clock back by an hour (an NTP step, a
/// restored VM) would hold every health probe and log check for that hour.
public final class MonotonicCondition: @unchecked Sendable {
    private let handle: OpaquePointer

    public init() {
        guard let handle = chost_condition_create() else { fatalError("out of memory for a condition") }
        self.handle = handle
    }

    deinit {
        chost_condition_destroy(handle)
    }

    public func lock() { chost_condition_lock(handle) }
    public func unlock() { chost_condition_unlock(handle) }
    public func signal() { chost_condition_signal(handle) }
    public func broadcast() { chost_condition_broadcast(handle) }

    /// Waits (locked) until signalled.
    public func wait() { chost_condition_wait(handle) }

    /// Waits (locked) until signalled or `deadline`; true when woken before it. Spurious wake-ups happen, as
    /// with any condition: callers look again at what they wait for.
    @discardableResult
    public func wait(until deadline: ContinuousClock.Instant) -> Bool {
        let left = ContinuousClock.now.duration(to: deadline)
        guard left > .zero else { return false }
        // At most a day per wait (callers loop): no overflow for a far deadline.
        let seconds = min(left.components.seconds, 86_400)
        let nanoseconds = seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000
        return chost_condition_wait_for(handle, nanoseconds) != 0
    }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
