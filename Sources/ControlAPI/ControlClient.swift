import Foundation
import OrchestratorCore
import PlainHTTP

/// Talks to a daemon's control API over its unix socket (`http+unix://`), as the CLI does.
public struct ControlClient: Sendable {
    /// The socket's path (`state/daemon.sock`).
    public var socketPath: String
    /// How long one request may take (a `down` waits for the servers' grace periods).
    public var timeout: Duration
    /// Whether a request waits on the calling thread (a one-shot command, with nothing else to run) rather
    /// than on a thread of its own (the dashboard, tests: callers that must not hold the cooperative pool).
    public var waitsInline: Bool

    public init(socketPath: String, timeout: Duration = .seconds(600), waitsInline: Bool = false) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.waitsInline = waitsInline
    }

    /// `GET /v1/daemon`.
    public func daemonInfo() async throws(ControlError) -> DaemonInfo {
        try await send("GET", "/v1/daemon")
    }

    /// Whether something accepts connections on the socket now.
    public func socketAccepts() -> Bool {
        PlainHTTP.connectOnly(.unix(path: socketPath), timeout: .seconds(1)) == nil
    }

    /// `GET /v1/instances`.
    public func instances(all: Bool) async throws(ControlError) -> [InstanceStatus] {
        try await send("GET", all ? "/v1/instances?all=1" : "/v1/instances")
    }

    /// `GET /v1/instances[?all=1]` as the daemon wrote it: `[InstanceStatus]` in `JSONEncoder.control`'s form,
    /// for a caller that prints it (`ps --json`) rather than decoding it to encode it again. Waits on the
    /// calling thread: one short exchange on the local socket.
    public func instancesJSONBlocking(all: Bool) throws(ControlError) -> [UInt8] {
        try body(of: exchange("GET", Self.instancesPath(all), payload: nil)())
    }

    /// `GET /v1/instances[?all=1]`, waiting on the calling thread (see `instancesJSONBlocking`).
    public func instancesBlocking(all: Bool) throws(ControlError) -> [InstanceStatus] {
        try decode(try instancesJSONBlocking(all: all))
    }

    private static func instancesPath(_ all: Bool) -> String { all ? "/v1/instances?all=1" : "/v1/instances" }

    /// `GET /v1/instances/<name>`.
    public func instance(named name: String) async throws(ControlError) -> InstanceStatus {
        let escaped = name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name
        return try await send("GET", "/v1/instances/\(escaped)")
    }

    /// `POST /v1/up`.
    public func up(_ request: InstancesRequest) async throws(ControlError) -> InstancesResponse {
        try await send("POST", "/v1/up", body: request)
    }

    /// `POST /v1/down`.
    public func down(_ request: InstancesRequest) async throws(ControlError) -> InstancesResponse {
        try await send("POST", "/v1/down", body: request)
    }

    /// `POST /v1/restart`.
    public func restart(_ request: InstancesRequest) async throws(ControlError) -> InstancesResponse {
        try await send("POST", "/v1/restart", body: request)
    }

    /// `POST /v1/daemon/stop`.
    public func stopDaemon(keepInstances: Bool) async throws(ControlError) {
        let _: [String: Bool] = try await send(
            "POST", "/v1/daemon/stop", body: DaemonStopRequest(keepInstances: keepInstances))
    }

    /// `method path` with `body` as JSON, the answer decoded.
    private func send<Answer: Decodable>(
        _ method: String, _ path: String, body: (some Encodable)? = String?.none
    ) async throws(ControlError) -> Answer {
        try decode(try await answer(method, path, body: body))
    }

    private func decode<Answer: Decodable>(_ body: [UInt8]) throws(ControlError) -> Answer {
        do {
            return try JSONDecoder.control.decode(Answer.self, from: Data(body))
        } catch {
            throw .notUnderstood(socketPath, reason: "\(error)")
        }
    }

    /// One exchange on the socket (`PlainHTTP`: no event loop to start, so a command's first request costs a
    /// connect and a few system calls), waited for on the calling thread or on a thread of its own
    /// (`waitsInline`): the body of a 200 answer; an error answer is thrown.
    private func answer(
        _ method: String, _ path: String, body: (some Encodable)? = String?.none
    ) async throws(ControlError) -> [UInt8] {
        var encoded: [UInt8]?
        if let body {
            do {
                encoded = Array(try JSONEncoder.control.encode(body))
            } catch {
                throw .unreachable(socketPath, reason: "cannot encode the request: \(error)")
            }
        }
        let exchange = exchange(method, path, payload: encoded)
        return try self.body(of: waitsInline ? exchange() : await Self.offThread(exchange))
    }

    /// One request to the daemon, ready to run on whichever thread waits for it.
    private func exchange(
        _ method: String, _ path: String, payload: [UInt8]?
    )
        -> @Sendable () -> Result<PlainHTTP.Response, PlainHTTPFailure>
    {
        let (endpoint, timeout) = (PlainHTTP.Endpoint.unix(path: socketPath), timeout)
        return {
            PlainHTTP.exchange(
                endpoint, method: method, path: path,
                headers: payload == nil ? [] : [("Content-Type", "application/json")], body: payload,
                timeout: timeout)
        }
    }

    /// The body of a 200 answer; a failed exchange or an error answer is thrown.
    private func body(of answer: Result<PlainHTTP.Response, PlainHTTPFailure>) throws(ControlError) -> [UInt8] {
        let response: PlainHTTP.Response
        switch answer {
        case .success(let received): response = received
        case .failure(.refused), .failure(.noSocket):
            throw .unreachable(socketPath, reason: "nothing listens on the socket")
        case .failure(.timedOut(let phase)):
            throw .timedOut(socketPath, seconds: Self.seconds(timeout), phase: phase)
        case .failure(let failure):
            throw .unreachable(socketPath, reason: failure.description)
        }
        guard response.status == 200 else {
            if let error = try? JSONDecoder.control.decode(ErrorBody.self, from: Data(response.body)) {
                throw .refused(error)
            }
            throw .refused(ErrorBody(message: "HTTP \(response.status): \(response.text)", exitCode: 1))
        }
        return response.body
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: body()) }
        }
    }
}

/// A request to the daemon failed: it could not be reached, or it refused with a reason.
public enum ControlError: OrchestratorError, Equatable {
    /// Nothing answered on the socket (no daemon, a dead one, a timeout).
    case unreachable(String, reason: String)
    /// The daemon answered with an error.
    case refused(ErrorBody)
    /// The daemon took the request but gave no answer in time: it may still be working on it.
    case timedOut(String, seconds: Double, phase: String)
    /// The daemon answered with something this CLI can't read (a daemon of another version).
    case notUnderstood(String, reason: String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .unreachable, .notUnderstood: .daemonUnreachable
        case .timedOut: .failure
        case .refused(let body): OrchestratorExitCode(rawValue: body.exitCode) ?? .failure
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let socket, let reason):
            "the daemon does not answer on \(socket) (\(reason)); start it with 'llama-orch daemon start'"
        case .refused(let body): body.message
        case .timedOut(let socket, let seconds, let phase):
            "the daemon on \(socket) gave no answer within \(seconds.formatted()) s (timed out \(phase)); it may "
                + "still be working on it: see 'llama-orch ps', or pass a longer --timeout"
        case .notUnderstood(let socket, let reason):
            "the daemon on \(socket) answered with something this llama-orch can't read (\(reason)); a daemon "
                + "of another version? 'llama-orch daemon stop --keep-instances', then any command starts this one"
        }
    }
}
