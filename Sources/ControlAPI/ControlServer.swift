import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import OrchestratorCore
import PlainHTTP
import ServiceLifecycle

/// The daemon's HTTP API on a unix socket (`state/daemon.sock`), JSON in and out.
///
/// Routes: `GET /v1/daemon`, `POST /v1/daemon/stop`, `GET /v1/instances[?all=1]`, `GET /v1/instances/<name>`,
/// `POST /v1/up`, `POST /v1/down`, `POST /v1/restart`. Errors answer with an `ErrorBody`, an unknown route too; an
/// invalid instance name is refused (400) as the CLI refuses it. The application is a
/// swift-service-lifecycle `Service`: run it in the daemon's service group.
public enum ControlServer {
    /// The routes, as an unknown one's answer lists them.
    static let routes =
        "GET /v1/daemon, POST /v1/daemon/stop, GET /v1/instances[?all=1], GET /v1/instances/NAME, POST /v1/up, "
        + "POST /v1/down, POST /v1/restart"

    /// The largest request body accepted.
    static let maxBody = 1 << 20

    /// The HTTP server serving `handler` on the unix socket at `socketPath`, as a swift-service-lifecycle
    /// `Service`.
    ///
    /// Hummingbird's router and HTTP/1 server, without its `Application` wrapper: that one keeps a `Date`
    /// header fresh with a timer that wakes the daemon every second, which an idle daemon supervising servers
    /// for days has no use for (a control API on a private socket needs no `Date` header).
    ///
    /// - Parameters:
    ///   - onRunning: called once the socket accepts connections (the daemon sets its mode then).
    ///   - onRequest: called as each request begins and again as it ends.
    public static func application(
        socketPath: String, handler: any ControlHandler, logger: Logger,
        onRunning: @escaping @Sendable () async -> Void, onRequest: @escaping @Sendable () -> Void = {}
    ) throws -> any Service {
        let responder = router(handler).buildResponder()
        return try HTTPServerBuilder.http1().buildServer(
            configuration: ServerConfiguration(
                address: .unixDomainSocket(path: PlainHTTP.reachableUnixPath(socketPath)), serverName: "llama-orch"),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger,
            responder: { request, writer, channel in
                onRequest()
                defer { onRequest() }
                let context = BasicRequestContext(source: .init(channel: channel, logger: logger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch let error as any HTTPResponseError {
                    response = try error.response(from: request, context: context)
                } catch {
                    logger.warning("control API: \(request.method) \(request.uri): \(error)")
                    response = json(
                        ErrorBody(message: "internal error: \(error)", exitCode: OrchestratorExitCode.failure.rawValue),
                        status: .internalServerError)
                }
                response.headers[.server] = "llama-orch"
                try await writer.write(response: response.head, body: response.body)
            },
            onServerRunning: { _ in await onRunning() })
    }

    /// The routes.
    static func router(_ handler: any ControlHandler) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: UnknownRouteMiddleware())
        router.get("/v1/daemon") { _, _ in
            json(await handler.daemonInfo())
        }
        router.post("/v1/daemon/stop") { request, _ in
            let body: DaemonStopRequest = try await decode(request)
            await handler.stopDaemon(body)
            return json(["stopping": true])
        }
        router.get("/v1/instances") { request, _ in
            let all = ["1", "true", "yes"].contains(request.uri.queryParameters.get("all") ?? "")
            return json(await handler.instances(all: all))
        }
        router.get("/v1/instances/:name") { _, context in
            let name = context.parameters.get("name") ?? ""
            return try await answer {
                try InstanceNameError.check([name])
                return try await handler.instance(named: name)
            }
        }
        router.post("/v1/up") { request, _ in
            let body: InstancesRequest = try await decode(request)
            return try await answer {
                try InstanceNameError.check(body.names)
                return try await handler.up(body)
            }
        }
        router.post("/v1/down") { request, _ in
            let body: InstancesRequest = try await decode(request)
            return try await answer {
                try InstanceNameError.check(body.names)
                return try await handler.down(body)
            }
        }
        router.post("/v1/restart") { request, _ in
            let body: InstancesRequest = try await decode(request)
            return try await answer {
                try InstanceNameError.check(body.names)
                return try await handler.restart(body)
            }
        }
        return router
    }

    /// Runs `body`, answering its value as JSON or its error as an `ErrorBody`.
    private static func answer(_ body: () async throws -> some Encodable) async throws -> Response {
        do {
            return json(try await body())
        } catch let error as any OrchestratorError {
            let status: HTTPResponse.Status =
                switch error.exitCode {
                case .notFound: .notFound
                case .usage, .configInvalid: .badRequest
                default: .conflict
                }
            return json(ErrorBody(message: error.description, exitCode: error.exitCode.rawValue), status: status)
        }
    }

    private static func decode<T: Decodable>(_ request: Request) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: maxBody)
        do {
            return try JSONDecoder.control.decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw BadRequest(message: "invalid JSON body for \(request.uri.path): \(error)")
        }
    }

    /// Answers a request no route matches (Hummingbird's own answer has an empty body) like every error: a message
    /// that lists the routes, and the usage exit code.
    struct UnknownRouteMiddleware: RouterMiddleware {
        func handle(
            _ request: Request, context: BasicRequestContext,
            next: (Request, BasicRequestContext) async throws -> Response
        ) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as HTTPError where error.status == .notFound {
                return json(
                    ErrorBody(
                        message: "no route \(request.method) \(request.uri.path); the routes: \(routes)",
                        exitCode: OrchestratorExitCode.usage.rawValue),
                    status: .notFound)
            }
        }
    }

    /// A request the API can't read: answered as an `ErrorBody` with the usage exit code, like every error.
    struct BadRequest: HTTPResponseError {
        var message: String
        var status: HTTPResponse.Status { .badRequest }

        func response(from request: Request, context: some RequestContext) throws -> Response {
            ControlServer.json(
                ErrorBody(message: message, exitCode: OrchestratorExitCode.usage.rawValue), status: .badRequest)
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let bytes = (try? JSONEncoder.control.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
