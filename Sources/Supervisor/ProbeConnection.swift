import CPlainHTTP
import CSupervisorShims
import Foundation
import PlainHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// Health probes' network calls: one HTTP exchange or TCP connect with a deadline (`PlainHTTP`).
///
/// A probe first runs on the calling thread for at most `inlineBudget`: llama-server answers `/health` in
/// well under a millisecond, and handing every probe to another thread and back costs more CPU than the probe
/// itself. An answer that takes longer is waited for by `ProbeWaiter`, one thread that polls every slow probe
/// of the daemon at once: a hundred hung servers hold one thread, not a hundred.
enum ProbeConnection {
    /// How long a probe may run on the caller's thread before the rest moves to the waiter.
    static let inlineBudget: Duration = .microseconds(500)

    /// Sends one request (`Connection: close`) and reads the response.
    static func request(
        host: String, port: Int, method: String, path: String, body: String? = nil, timeout: Duration
    ) async -> Result<PlainHTTP.Response, PlainHTTPFailure> {
        let exchange = PlainHTTP.Exchange(
            .tcp(host: host, port: port), method: method, path: path,
            headers: body == nil ? [] : [("Content-Type", "application/json")], body: body.map { Array($0.utf8) },
            timeout: timeout)
        return await run(exchange)
    }

    /// Opens and closes a TCP connection.
    static func connectOnly(host: String, port: Int, timeout: Duration) async -> PlainHTTPFailure? {
        let outcome = await run(PlainHTTP.Exchange(connectingTo: .tcp(host: host, port: port), timeout: timeout))
        if case .failure(let failure) = outcome { return failure }
        return nil
    }

    /// Runs `exchange` here for up to `inlineBudget`, then hands what is left to the waiter.
    private static func run(_ exchange: PlainHTTP.Exchange) async -> Result<PlainHTTP.Response, PlainHTTPFailure> {
        if let outcome = exchange.run(until: ContinuousClock.now.advanced(by: inlineBudget)) { return outcome }
        return await ProbeWaiter.shared.finish(exchange)
    }
}

/// One thread that waits on every slow probe at once (`ppoll` over their sockets) and finishes each when its
/// socket is ready or its deadline passes.
final class ProbeWaiter: @unchecked Sendable {
    static let shared = ProbeWaiter()

    private typealias Outcome = Result<PlainHTTP.Response, PlainHTTPFailure>

    private struct Waiting {
        var exchange: PlainHTTP.Exchange
        var continuation: CheckedContinuation<Outcome, Never>
    }

    private let lock = NSLock()
    private var waiting: [Waiting] = []
    private var started = false
    /// A pipe that interrupts the wait when an exchange is added: [read end, write end].
    private var wake: [Int32] = [-1, -1]

    /// Waits for `exchange` to end (it always does: it has a deadline).
    func finish(_ exchange: PlainHTTP.Exchange) async -> Result<PlainHTTP.Response, PlainHTTPFailure> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            lock.lock()
            if !started {
                started = true
                _ = csupervisor_pipe_cloexec_nonblock(&wake)
                Thread.start(named: "orch probes") { [self] in run() }
            }
            waiting.append(Waiting(exchange: exchange, continuation: continuation))
            let signal = wake[1]
            lock.unlock()
            var byte: UInt8 = 1
            _ = write(signal, &byte, 1)
        }
    }

    private func run() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            lock.lock()
            let current = waiting
            lock.unlock()
            var entries = [pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
            var earliest = ContinuousClock.now.advanced(by: .seconds(60))
            for item in current {
                earliest = min(earliest, item.exchange.expires)
                let (descriptor, events) = item.exchange.waitingFor ?? (-1, 0)
                entries.append(pollfd(fd: descriptor, events: events, revents: 0))
            }
            let left = ContinuousClock.now.duration(to: earliest)
            let nanoseconds = max(
                left.components.seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000, 0)
            _ = cplainhttp_wait_many(&entries, Int32(entries.count), nanoseconds)
            if entries[0].revents != 0 { _ = read(wake[0], &buffer, buffer.count) }
            let now = ContinuousClock.now
            var finished: [(Int, Outcome)] = []
            for (index, item) in current.enumerated()
            where entries[index + 1].revents != 0 || now >= item.exchange.expires
                || item.exchange.waitingFor == nil
            {
                if let outcome = item.exchange.run(until: now) { finished.append((index, outcome)) }
            }
            guard !finished.isEmpty else { continue }
            let done = Set(finished.map { ObjectIdentifier(current[$0.0].exchange) })
            lock.lock()
            waiting.removeAll { done.contains(ObjectIdentifier($0.exchange)) }
            lock.unlock()
            for (index, outcome) in finished { current[index].continuation.resume(returning: outcome) }
        }
    }
}
