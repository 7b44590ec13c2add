import Logging
import OrchestratorCore
import StateStore
import Synchronization

/// Requests the router proxied, on their way to the state store: appended on the request path without waiting,
/// written in one transaction a second (a write per request would cost each request a disk sync).
public final class RouterRequestLog: Sendable {
    private let pending = Mutex<[RouterRequestRecord]>([])
    private let store: StateStore
    private let logger: Logger

    init(store: StateStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    func append(_ record: RouterRequestRecord) {
        pending.withLock { $0.append(record) }
    }

    /// Writes what is pending.
    public func flush() {
        let batch = pending.withLock { pending in
            defer { pending = [] }
            return pending
        }
        do {
            try store.appendRouterRequests(batch)
        } catch {
            logger.warning("cannot record \(batch.count) router requests: \(error)")
        }
    }

    /// Flushes every second until cancelled, then once more.
    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            flush()
        }
        flush()
    }
}
