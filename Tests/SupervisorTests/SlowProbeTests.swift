import Foundation
import OrchestratorCore
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Probes of servers that never answer: each ends at its own timeout, and many at once wait on one thread.
@Suite(.serialized) struct SlowProbeTests {
    private func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").count) ?? 0
    }

    /// Forty probes of `port` at once, each with a 400 ms timeout: all fail with `failure` in their text, on
    /// time, and without a thread each.
    private func fortyProbesTimeOut(_ checker: any HealthChecker, port: Int, failure: String) async {
        let target = HealthCheckTarget(
            host: "127.0.0.1", port: port, pid: 0, path: "/health", timeout: .milliseconds(400))
        let before = threadCount()
        let started = ContinuousClock.now
        let counter = ThreadCounter(threadCount)
        let results = await withTaskGroup(of: HealthCheckResult.self) { group in
            for _ in 0..<40 { group.addTask { await checker.check(target) } }
            group.addTask {
                // Halfway through the wait: how many threads the process has while 40 probes hang.
                try? await Task.sleep(for: .milliseconds(200))
                counter.sample()
                return .healthy
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let waited = ContinuousClock.now - started
        let failures = results.filter { if case .failed = $0 { true } else { false } }
        #expect(failures.count == 40)
        #expect(failures.allSatisfy { "\($0)".contains(failure) }, "\(failures.first.map { "\($0)" } ?? "")")
        // At their own 400 ms, together: one after another would take 16 s.
        #expect(waited >= .milliseconds(400) && waited < .seconds(10), "waited \(waited)")
        #expect(counter.value - before < 10, "\(counter.value - before) more threads while 40 probes waited")
    }

    @Test func manyHungServersTimeOutOnTimeWithoutAThreadEach() async throws {
        // Accepts connections (the kernel's backlog) and never answers.
        let listener = try LoopbackListener()
        defer { listener.close() }
        await fortyProbesTimeOut(HTTPHealthChecker(), port: listener.port, failure: "timed out")
    }

    @Test func tcpProbesOfAServerThatNeverAcceptsTimeOutWithoutAThreadEach() async throws {
        // A backlog of one, filled: the kernel drops every further SYN, so each connect hangs.
        let listener = try LoopbackListener(backlog: 0)
        defer { listener.close() }
        let filling = (0..<2).map { _ in socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        defer { filling.forEach { close($0) } }
        for descriptor in filling {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(listener.port).bigEndian)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        await fortyProbesTimeOut(TCPHealthChecker(), port: listener.port, failure: "timed out connecting")
    }
}

private final class ThreadCounter: @unchecked Sendable {
    private let count: () -> Int
    private let lock = NSLock()
    private var sampled = 0
    init(_ count: @escaping () -> Int) { self.count = count }
    func sample() { lock.withLock { sampled = count() } }
    var value: Int { lock.withLock { sampled } }
}
