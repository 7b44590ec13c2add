import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// The network side of health probes: one HTTP request or one TCP connect with a deadline, on the process's
/// NIO event loop group (the one the daemon's control API serves on).
enum HealthProbeClient {
    /// What a server answered.
    struct Response: Sendable, Equatable {
        var status: Int
        var text: String
    }

    /// The client every HTTP probe goes through. A connect that fails fails the probe at once: by default
    /// AsyncHTTPClient retries with backoff until the deadline, which would turn "connection refused" into a
    /// timeout. Each probe asks for `Connection: close`, so no probe holds one of llama-server's HTTP threads
    /// between probes.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }()

    /// The most of a body a probe reads: enough for an error message.
    static let bodyLimit = 64 << 10

    /// Sends one request (GET, or POST with a JSON `body`) and reads the response, all within `timeout`.
    static func request(
        host: String, port: Int, path: String, body: String? = nil, timeout: Duration
    ) async -> Result<Response, ProbeFailure> {
        var request = HTTPClientRequest(url: "http://\(urlHost(host)):\(port)\(path)")
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "Connection", value: "close")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await client.execute(request, deadline: .now() + TimeAmount(timeout))
            let bytes = try await response.body.collect(upTo: bodyLimit)
            return .success(Response(status: Int(response.status.code), text: String(buffer: bytes)))
        } catch {
            return .failure(ProbeFailure(error))
        }
    }

    /// Opens and closes a TCP connection within `timeout`.
    static func connect(host: String, port: Int, timeout: Duration) async -> ProbeFailure? {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(timeout))
                .connect(host: loopbackAddress(host), port: port).get()
            try? await channel.close()
            return nil
        } catch {
            return ProbeFailure(error)
        }
    }

    /// The address a probe reaches a server on: one that listens on every address (`0.0.0.0`, `::`) is
    /// probed on the loopback.
    static func loopbackAddress(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "", "localhost": "127.0.0.1"
        case "::": "::1"
        default: host
        }
    }

    private static func urlHost(_ host: String) -> String {
        let address = loopbackAddress(host)
        return address.contains(":") ? "[\(address)]" : address
    }
}

/// Why a probe got no answer, in the words events and `describe` show.
struct ProbeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String

    init(_ error: any Error) {
        description = Self.describe(error)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTPClientError
        where error == .deadlineExceeded || error == .connectTimeout || error == .readTimeout:
            "timed out waiting for the answer"
        case ChannelError.connectTimeout:
            "timed out connecting"
        case let error as NIOConnectionError:
            error.connectionErrors.first.map { describe($0.error) } ?? "cannot connect to \(error.host)"
        case let error as IOError where error.errnoCode == ECONNREFUSED:
            "connection refused"
        case let error as IOError:
            String(cString: strerror(error.errnoCode))
        case let error as NIOTooManyBytesError:
            "the answer is over \(error.maxBytes.map { "\($0)" } ?? "the limit of") bytes"
        default:
            "\(error)"
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
