import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrchestratorCore

/// Talks to a daemon's control API over its unix socket (`http+unix://`), as the CLI does.
public struct ControlClient: Sendable {
    /// The socket's path (`state/daemon.sock`).
    public var socketPath: String
    /// How long one request may take (a `down` waits for the servers' grace periods).
    public var timeout: Duration

    public init(socketPath: String, timeout: Duration = .seconds(600)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// `GET /v1/daemon`.
    public func daemonInfo() async throws(ControlError) -> DaemonInfo {
        try await send("GET", "/v1/daemon")
    }

    /// Whether something accepts connections on the socket now. Asked before a request: the HTTP client retries
    /// a refused connection until its deadline, which would make "is a daemon running?" take seconds.
    public func socketAccepts() -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8CString)
        guard path.count <= MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            path.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0
    }

    /// `GET /v1/instances`.
    public func instances(all: Bool) async throws(ControlError) -> [InstanceStatus] {
        try await send("GET", all ? "/v1/instances?all=1" : "/v1/instances")
    }

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

    /// The URL of `path` on the socket (`http+unix://<percent-encoded socket>/v1/...`).
    public func url(_ path: String) -> String {
        URL(httpURLWithSocketPath: socketPath, uri: path)?.absoluteString ?? "http+unix://invalid\(path)"
    }

    private func send<Answer: Decodable>(
        _ method: String, _ path: String, body: (some Encodable)? = String?.none
    ) async throws(ControlError) -> Answer {
        guard socketAccepts() else { throw .unreachable(socketPath, reason: "nothing listens on the socket") }
        var request = HTTPClientRequest(url: url(path))
        request.method = .init(rawValue: method)
        // One request per connection: a pooled idle connection would hold up the daemon's graceful shutdown.
        request.headers.add(name: "Connection", value: "close")
        if let body {
            do {
                request.body = .bytes(ByteBuffer(bytes: try JSONEncoder.control.encode(body)))
            } catch {
                throw .unreachable(socketPath, reason: "cannot encode the request: \(error)")
            }
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        let status: UInt
        let data: Data
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .init(timeout))
            status = response.status.code
            data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
        } catch {
            throw .unreachable(socketPath, reason: "\(error)")
        }
        guard status == 200 else {
            if let error = try? JSONDecoder.control.decode(ErrorBody.self, from: data) {
                throw .refused(error)
            }
            throw .refused(
                ErrorBody(message: "HTTP \(status): \(String(decoding: data, as: UTF8.self))", exitCode: 1))
        }
        do {
            return try JSONDecoder.control.decode(Answer.self, from: data)
        } catch {
            throw .unreachable(socketPath, reason: "unexpected answer: \(error)")
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// A request to the daemon failed: it could not be reached, or it refused with a reason.
public enum ControlError: OrchestratorError, Equatable {
    /// Nothing answered on the socket (no daemon, a dead one, a timeout).
    case unreachable(String, reason: String)
    /// The daemon answered with an error.
    case refused(ErrorBody)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .unreachable: .daemonUnreachable
        case .refused(let body): OrchestratorExitCode(rawValue: body.exitCode) ?? .failure
        }
    }

    public var description: String {
        switch self {
        case .unreachable(let socket, let reason):
            "the daemon does not answer on \(socket) (\(reason)); start it with 'llama-orch daemon start'"
        case .refused(let body): body.message
        }
    }
}
