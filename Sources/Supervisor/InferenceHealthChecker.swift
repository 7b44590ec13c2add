import OrchestratorCore

/// `inference`: asks for one token (POST /completion `{"prompt":"a","n_predict":1}`) within the timeout.
///
/// Finds servers that answer `/health` but can't complete a request (a wedged GPU queue, a deadlocked
/// slot). A 503 is loading, as for `http`.
public struct InferenceHealthChecker: HealthChecker {
    /// The request body: one token of an arbitrary prompt.
    public static let requestBody = #"{"prompt":"a","n_predict":1}"#

    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        let answer = await HealthProbeClient.request(
            host: target.host, port: target.port, path: "/completion", body: Self.requestBody,
            timeout: target.timeout)
        return HTTPHealthChecker.judge(answer, request: "POST /completion")
    }
}
