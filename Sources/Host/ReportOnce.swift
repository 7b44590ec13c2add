import Synchronization

/// Which failures of a repeated check were reported already, so that a check failing every few seconds says
/// so once, and again only after it has worked in between.
public final class ReportOnce: Sendable {
    private let reported = Mutex<Set<String>>([])

    public init() {}

    /// Records that `key` failed; true when that is news (the first failure since its last success).
    public func failed(_ key: String) -> Bool {
        reported.withLock { $0.insert(key).inserted }
    }

    /// Records that `key` worked: its next failure is news again.
    public func succeeded(_ key: String) {
        reported.withLock { _ = $0.remove(key) }
    }
}
