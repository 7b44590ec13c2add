import OrchestratorCore

/// `http`: GET `healthcheck.path` (`/health`) and key on the status code, as llama-server's contract says:
/// 200 is healthy, 503 means loading (counted only against the start period), anything else a failure.
public struct HTTPHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        let answer = await HealthProbeClient.request(
            host: target.host, port: target.port, path: target.path, timeout: target.timeout)
        return Self.judge(answer, request: "GET \(target.path)")
    }

    static func judge(_ answer: Result<HealthProbeClient.Response, ProbeFailure>, request: String) -> HealthCheckResult
    {
        switch answer {
        case .failure(let failure):
            return .failed("\(request): \(failure)")
        case .success(let response) where (200..<300).contains(response.status):
            return .healthy
        case .success(let response) where response.status == 503:
            return .loading("\(request): 503 \(Self.excerpt(response.text))")
        case .success(let response):
            return .failed("\(request): HTTP \(response.status) \(Self.excerpt(response.text))")
        }
    }

    /// The start of a body, on one line, for events.
    static func excerpt(_ body: String) -> String {
        let line = body.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > 120 ? String(line.prefix(120)) + "…" : line
    }
}
