import Foundation
import Host
import OrchestratorCore
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Each checker against the stub server: what it sees, and that it never waits past its timeout.
@Suite(.serialized) struct HealthCheckerTests {
    let checkers = Registry<any HealthChecker>.standardHealthCheckers

    /// Starts the stub with `arguments`, runs `body` with a probe target, and stops it.
    private func withServer(
        _ arguments: [String], waitForPort: Bool = true, _ body: (HealthCheckTarget) async throws -> Void
    ) async throws {
        let harness = try SupervisorHarness("checker")
        defer { harness.project.remove() }
        let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(null) }
        let spec = harness.spec(arguments)
        let server = try ServerProcess.spawn(
            spec, instance: harness.instance, runID: "probe", stdout: null, stderr: null)
        if waitForPort {
            _ = await SupervisorHarness.eventually(within: .seconds(10)) {
                !PortInspector.canBind(host: "127.0.0.1", port: spec.port)
            }
        }
        // A patient timeout for probes that should pass; those that should time out use `short(_:)`.
        let target = HealthCheckTarget(
            host: "127.0.0.1", port: spec.port, pid: server.pid, path: "/health", timeout: .seconds(5))
        do {
            try await body(target)
        } catch {
            await ProcessGroupTerminator.killNow(group: server.processGroup)
            throw error
        }
        await ProcessGroupTerminator.killNow(group: server.processGroup)
        #expect(harness.leftovers().isEmpty)
    }

    /// `target` with a 300 ms timeout, for probes of a server that never answers.
    private func short(_ target: HealthCheckTarget) -> HealthCheckTarget {
        var short = target
        short.timeout = .milliseconds(300)
        return short
    }

    private func probe(_ name: String, _ target: HealthCheckTarget) async -> (HealthCheckResult, Duration) {
        guard let checker = checkers[name] else { return (.failed("no checker named \(name)"), .zero) }
        let clock = ContinuousClock()
        var result = HealthCheckResult.healthy
        let took = await clock.measure { result = await checker.check(target) }
        return (result, took)
    }

    @Test func inferenceFindsAServerThatAnswersHealthButCannotComplete() async throws {
        try await withServer(["--hang-completion"]) { target in
            #expect(await probe("http", target).0 == .healthy)
            #expect(await probe("tcp", target).0 == .healthy)
            let (result, took) = await probe("inference", short(target))
            #expect(result == .failed("POST /completion: timed out waiting for the answer"))
            // Its own 300 ms, well before the 5 s default.
            #expect(took < .seconds(3))
        }
        try await withServer([]) { target in
            #expect(await probe("inference", target).0 == .healthy)
        }
    }

    @Test func loadingIsReportedAsLoading() async throws {
        try await withServer(["--load-time", "30"]) { target in
            let (http, _) = await probe("http", target)
            #expect(
                http
                    == .loading(
                        #"GET /health: 503 {"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#
                    ))
            guard case .loading = await probe("inference", target).0 else {
                Issue.record("a loading server's completion should count as loading")
                return
            }
            var wrongPath = target
            wrongPath.path = "/nowhere"
            guard case .failed(let text) = await probe("http", wrongPath).0 else {
                Issue.record("a 404 must fail")
                return
            }
            #expect(text.hasPrefix("GET /nowhere: HTTP 404"))
        }
    }

    @Test func aHungOrStoppedServerFailsWithinTheTimeout() async throws {
        try await withServer(["--hang-after", "0"]) { target in
            let (result, took) = await probe("http", short(target))
            #expect(result == .failed("GET /health: timed out waiting for the answer"))
            #expect(took >= .milliseconds(300) && took < .seconds(3))
        }
        try await withServer([]) { target in
            #expect(await probe("process", target).0 == .healthy)
            kill(target.pid, SIGSTOP)
            // The signal is delivered asynchronously.
            #expect(
                await SupervisorHarness.eventually {
                    await probe("process", target).0 == .failed("process \(target.pid) is stopped")
                })
            #expect(
                await probe("http", short(target)).0 == .failed("GET /health: timed out waiting for the answer"))
            kill(target.pid, SIGCONT)
            #expect(await probe("http", target).0 == .healthy)
        }
    }

    @Test func nobodyListeningIsARefusal() async throws {
        let target = HealthCheckTarget(
            host: "0.0.0.0", port: SupervisorHarness.freePort(), pid: 0, timeout: .milliseconds(300))
        #expect(await probe("http", target).0 == .failed("GET /health: connection refused"))
        guard case .failed(let text) = await probe("tcp", target).0 else {
            Issue.record("tcp must fail")
            return
        }
        #expect(text.contains("connection refused"))
        #expect(await probe("process", target).0 == .failed("process 0 is gone"))
    }
}
