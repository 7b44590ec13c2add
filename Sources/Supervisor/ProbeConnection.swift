import Foundation
import PlainHTTP

/// Health probes' network calls: one HTTP exchange or TCP connect with a deadline (`PlainHTTP`).
///
/// A probe first runs on the calling thread for at most `inlineBudget`: llama-server answers `/health` in
/// well under a millisecond, and handing every probe to another thread and back costs more CPU than the probe
/// itself (two thread wake-ups on each side). An answer that takes longer is waited for on a thread of its
/// own, so Swift's cooperative pool is never held longer than the budget.
enum ProbeConnection {
    /// How long a probe may run on the caller's thread before the rest moves to another thread.
    static let inlineBudget: Duration = .microseconds(500)

    /// Sends one request (`Connection: close`) and reads the response.
    static func request(
        host: String, port: Int, method: String, path: String, body: String? = nil, timeout: Duration
    ) async -> Result<PlainHTTP.Response, PlainHTTPFailure> {
        let exchange = PlainHTTP.Exchange(
            .tcp(host: host, port: port), method: method, path: path,
            headers: body == nil ? [] : [("Content-Type", "application/json")], body: body.map { Array($0.utf8) },
            timeout: timeout)
        if let outcome = exchange.run(until: ContinuousClock.now.advanced(by: inlineBudget)) { return outcome }
        return await offThread { exchange.run(until: nil) ?? .failure(.timedOut("waiting for the answer")) }
    }

    /// Opens and closes a TCP connection.
    static func connectOnly(host: String, port: Int, timeout: Duration) async -> PlainHTTPFailure? {
        await offThread { PlainHTTP.connectOnly(.tcp(host: host, port: port), timeout: timeout) }
    }

    private static func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }
}
