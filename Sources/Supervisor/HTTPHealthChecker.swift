import OrchestratorCore

/// `http`: GET `healthcheck.path` (`/health`) and key on the status code, as llama-server's contract says:
/// 200 is healthy, 503 means loading (counted only against the start period), anything else a failure.
public struct HTTPHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        let answer = await ProbeConnection.request(
            host: target.host, port: target.port, method: "GET", path: target.path, timeout: target.timeout)
        return Self.judge(answer, request: "GET \(target.path)")
    }

    static func judge(_ answer: Result<ProbeConnection.Response, ProbeFailure>, request: String) -> HealthCheckResult {
        switch answer {
        case .failure(let failure):
            return .failed("\(request): \(failure)")
        case .success(let response) where (200..<300).contains(response.status):
            return .healthy
        case .success(let response) where response.status == 503:
            return .loading("\(request): 503 \(Self.excerpt(response.body))")
        case .success(let response):
            return .failed("\(request): HTTP \(response.status) \(Self.excerpt(response.body))")
        }
    }

    /// The start of a body, on one line, for events.
    static func excerpt(_ body: String) -> String {
        let line = body.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > 120 ? String(line.prefix(120)) + "…" : line
    }
}

/// `inference`: asks for one token (POST /completion `{"prompt":"a","n_predict":1}`) within the timeout.
///
/// Finds servers that answer `/health` but can't complete a request (a wedged GPU queue, a deadlocked
/// slot). A 503 is loading, as for `http`.
public struct InferenceHealthChecker: HealthChecker {
    /// The request body: one token of an arbitrary prompt.
    public static let requestBody = #"{"prompt":"a","n_predict":1}"#

    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        let answer = await ProbeConnection.request(
            host: target.host, port: target.port, method: "POST", path: "/completion", body: Self.requestBody,
            timeout: target.timeout)
        return HTTPHealthChecker.judge(answer, request: "POST /completion")
    }
}

/// `tcp`: the port accepts a connection. Says nothing about the model; for servers without `/health`.
public struct TCPHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        if let failure = await ProbeConnection.connectOnly(
            host: target.host, port: target.port, timeout: target.timeout)
        {
            return .failed("connect to port \(target.port): \(failure)")
        }
        return .healthy
    }
}

/// `process`: the server process exists and is not stopped (SIGSTOP) or a zombie. The weakest check; for
/// servers that listen nowhere the supervisor can reach.
public struct ProcessHealthChecker: HealthChecker {
    public init() {}

    public func check(_ target: HealthCheckTarget) async -> HealthCheckResult {
        guard let stat = ProcFS.stat(target.pid) else { return .failed("process \(target.pid) is gone") }
        switch stat.state {
        case "T", "t": return .failed("process \(target.pid) is stopped")
        case "Z", "X": return .failed("process \(target.pid) has exited")
        default: return .healthy
        }
    }
}

extension Registry where Entry == any HealthChecker {
    /// The built-in health checkers, under the names configs use (`BuiltInNames.healthCheckers`).
    public static var standardHealthCheckers: Registry<any HealthChecker> {
        Registry(
            kind: "health checker",
            [
                ("http", HTTPHealthChecker()),
                ("tcp", TCPHealthChecker()),
                ("process", ProcessHealthChecker()),
                ("inference", InferenceHealthChecker()),
            ])
    }
}
