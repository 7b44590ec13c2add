/// Starts instances one at a time on one device: each start waits until the one before it is healthy, has
/// failed, or is past its start period, so that a boot (or `up --all`) never loads every model at once.
actor BootQueue {
    private var tail: Task<Void, Never>?
    private var pending = 0

    /// Runs `start` after everything queued before it; returns whether nothing was queued (it runs now).
    func enqueue(_ start: @escaping @Sendable () async -> Void) -> Bool {
        let idle = pending == 0
        pending += 1
        let previous = tail
        tail = Task {
            await previous?.value
            await start()
            self.finished()
        }
        return idle
    }

    private func finished() {
        pending -= 1
    }
}
