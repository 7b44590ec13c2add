import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import OrchestratorCore
import ServiceLifecycle

/// The router's HTTP side: one port for every instance. Reads the model from each request, asks the
/// `RouterService` for it (which may start it), then relays the request to that llama-server and its answer back,
/// chunk by chunk.
///
/// Built on HummingbirdCore's HTTP/1 server: `ForwardHandler`, in its pipeline, relays every request that names a
/// model; one responder answers the router's own endpoints. AsyncHTTPClient reads the servers' `/metrics`.
public struct RouterServer: Sendable {
    public struct Settings: Sendable {
        public var host: String
        public var port: Int
        /// Keys a client must send; empty: none.
        public var apiKeys: [String]
        public var maxBodyBytes: Int
        /// Longest silence from a server once its response began; `nil`: none.
        public var streamIdleTimeout: Duration?
        /// Longest time a client's connection may go without a request part while nothing is answered on it;
        /// `nil`: none.
        public var clientIdleTimeout: Duration?
        /// Which web pages may use the router from a browser.
        public var cors: CORSPolicy
        /// Which names requests may reach the router by (`Host`).
        public var hosts: HostPolicy

        public init(
            host: String, port: Int, apiKeys: [String] = [], maxBodyBytes: Int = 32 << 20,
            streamIdleTimeout: Duration? = .seconds(300), clientIdleTimeout: Duration? = .seconds(60),
            cors: CORSPolicy = CORSPolicy(origins: ProjectSettings.Router.localOrigins), allowedHosts: [String] = []
        ) {
            self.host = host
            self.port = port
            self.apiKeys = apiKeys
            self.maxBodyBytes = maxBodyBytes
            self.streamIdleTimeout = streamIdleTimeout
            self.clientIdleTimeout = clientIdleTimeout
            self.cors = cors
            self.hosts = HostPolicy(names: allowedHosts, listeningOn: host)
        }

        /// From the project file's `router` object; keys read from their variables in `environment`.
        public init(_ router: ProjectSettings.Router, environment: [String: String]) {
            let address = router.address ?? ("127.0.0.1", 8080)
            self.init(
                host: address.host, port: address.port,
                apiKeys: router.apiKeys.compactMap { $0.value(in: environment) },
                maxBodyBytes: router.maxBodyMB << 20,
                streamIdleTimeout: router.streamIdleTimeout > 0
                    ? .milliseconds(Int64((router.streamIdleTimeout * 1000).rounded())) : nil,
                clientIdleTimeout: router.clientIdleTimeout > 0
                    ? .milliseconds(Int64((router.clientIdleTimeout * 1000).rounded())) : nil,
                cors: CORSPolicy(origins: router.corsOrigins), allowedHosts: router.allowedHosts)
        }
    }

    let settings: Settings
    let service: RouterService
    let client: HTTPClient
    let logger: Logger
    /// The one event loop the server, its connections' tasks and the upstream client run on.
    let executor: EventLoopExecutor
    /// Kept-alive connections to the servers, for `ForwardHandler`.
    let pool: UpstreamPool
    /// Each proxied request, for the state store.
    let record: @Sendable (RouterRequestRecord) -> Void
    /// Extra series for `/metrics`: the instances' states and restarts, set before each scrape.
    let beforeScrape: @Sendable () async -> Void

    public init(
        settings: Settings, service: RouterService, logger: Logger,
        record: @escaping @Sendable (RouterRequestRecord) -> Void = { _ in },
        beforeScrape: @escaping @Sendable () async -> Void = {}
    ) {
        self.settings = settings
        self.service = service
        self.logger = logger
        self.record = record
        self.beforeScrape = beforeScrape
        var configuration = HTTPClient.Configuration()
        // llama-server's slots are the limit, not the client's pool (its default is 8 connections per host).
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        configuration.timeout = .init(connect: .seconds(5))
        configuration.decompression = .disabled
        configuration.redirectConfiguration = .disallow
        configuration.httpVersion = .http1Only
        // No spans: the default is the process's bootstrapped tracer, a no-op one here that still cost 3 % of the
        // router's time per request (span and attributes).
        configuration.tracing.tracer = nil
        executor = EventLoopExecutor(service.loop)
        client = HTTPClient(eventLoopGroup: executor.loop, configuration: configuration)
        pool = UpstreamPool(loop: executor.loop)
    }

    /// The server as a swift-service-lifecycle `Service`: its connections' tasks (children of its run) run on
    /// the router's event loop, like its sockets and the upstream client's.
    public func makeService(onRunning: @escaping @Sendable () async -> Void = {}) throws -> any Service {
        let server = try HTTPServerBuilder.http1(
            configuration: .init(additionalChannelHandlers: [ForwardHandler(server: self)])
        ).buildServer(
            configuration: ServerConfiguration(
                address: .hostname(settings.host, port: settings.port), serverName: "llama-orch"),
            eventLoopGroup: executor.loop, logger: logger,
            responder: { request, writer, channel in
                try await self.respond(request, writer, channel: channel)
            },
            onServerRunning: { _ in await onRunning() })
        return OnExecutor(service: server, executor: executor)
    }

    /// Runs a service with its tasks preferring `executor`.
    struct OnExecutor: Service {
        let service: any Service
        let executor: EventLoopExecutor

        func run() async throws {
            try await withTaskExecutorPreference(executor) { try await service.run() }
        }
    }

    /// Why the server could not listen, in words (`Address already in use`; NIO's own text repeats the call's
    /// signature and a stray parenthesis).
    public static func describe(listenError error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    /// Closes the upstream client (after the server stopped).
    public func shutdown() async {
        let pool = pool
        try? await executor.loop.submit { pool.close() }.get()
        try? await client.shutdown()
    }

    // MARK: Requests

    /// The router's own endpoints (`ForwardHandler` takes every request that names a model, before this).
    func respond(_ request: Request, _ writer: consuming ResponseWriter, channel: any Channel) async throws {
        let started = ContinuousClock.now
        var head: HTTPResponse
        let body: ResponseBody
        do {
            (head, body) = try await answer(request)
        } catch {
            metrics(model: error.model, status: error.status, started: started)
            (head, body) = (Self.errorHead(error), Self.bytes(error.body))
        }
        if head.status != .noContent {
            head.headerFields.append(contentsOf: settings.cors.answerFields(origin: request.headers[.origin]))
            // Framed by its length, not chunked: an HTTP/1.0 client (HAProxy's and nagios's health checks by
            // default) cannot read chunks.
            if let length = body.contentLength { head.headerFields[.contentLength] = String(length) }
        }
        // HEAD: GET's answer without its body (NIO's encoder drops a body after HEAD too).
        try await writer.write(response: head, body: request.method == .head ? ResponseBody() : body)
    }

    private func answer(_ request: Request) async throws(RouterError) -> (HTTPResponse, ResponseBody) {
        let path = request.uri.path
        // HEAD is answered as GET; `respond` leaves the body out.
        let method = request.method == .head ? .get : request.method
        func notAllowed(_ allowed: [HTTPRequest.Method]) -> RouterError {
            RouterError(
                .methodNotAllowed(
                    method: request.method.rawValue, path: path,
                    allowed: allowed.flatMap { $0 == .get ? ["GET", "HEAD"] : [$0.rawValue] }))
        }
        if path == "/health" {
            guard method == .get else { throw notAllowed([.get]) }
            return (Self.json(), Self.bytes(#"{"status":"ok"}"#))
        }
        if !settings.hosts.allows(request.head.authority) {
            throw RouterError(.hostNotAllowed(HostPolicy.name(request.head.authority ?? "")))
        }
        if let origin = request.headers[.origin], !settings.cors.allows(origin) {
            throw RouterError(.originNotAllowed(origin))
        }
        if CORSPolicy.isPreflight(request.head) {
            // Before the key check: a browser sends no credentials with a preflight.
            return (try settings.cors.preflight(request.headers).get(), ResponseBody())
        }
        if !settings.apiKeys.isEmpty && !APIKeyCheck.accepts(request.headers, keys: settings.apiKeys) {
            throw RouterError(.unauthorized)
        }
        switch (method, path) {
        case (.get, "/v1/models"), (.get, "/models"):
            return (Self.json(), Self.bytes(ModelList.json(await service.statuses())))
        case (.post, "/models/load"), (.post, "/models/unload"):
            return (Self.json(), Self.bytes(try await loadOrUnload(request, unload: path == "/models/unload")))
        case (.get, "/metrics"):
            var head = HTTPResponse(status: .ok)
            head.headerFields[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return (head, Self.bytes(await metricsText()))
        case (_, "/v1/models"), (_, "/models"), (_, "/metrics"):
            throw notAllowed([.get])
        case (_, "/models/load"), (_, "/models/unload"):
            throw notAllowed([.post])
        case (_, _) where RequestModel.jsonEndpoints.contains(path) || path == "/v1/audio/transcriptions":
            throw notAllowed([.post])
        default:
            throw RouterError(.notFound("\(request.method) \(path)"))
        }
    }

    /// The instance a request's `model` names; 404 naming the known ones.
    private func model(named requested: String) async throws(RouterError) -> RoutableModel {
        guard let model = await service.resolve(requested) else {
            let known = await service.statuses().filter(\.model.listed).map(\.model.name)
            throw RouterError(.unknownModel(requested: requested, known: known))
        }
        return model
    }

    /// A lease on the model a request names (`ForwardHandler`), at once or after waiting in the queue;
    /// `whenQueued` is told the request's place in the queue, to cancel it when the client leaves.
    func lease(
        for requested: String, whenQueued: (RouterService.RequestID) -> Void
    ) async -> Result<RouterService.Lease, RouterError> {
        do {
            return await lease(of: try await model(named: requested), whenQueued: whenQueued)
        } catch {
            return .failure(error)
        }
    }

    /// A lease on `model`, at once or after waiting in the queue (`whenQueued` is told its place first).
    private func lease(
        of model: RoutableModel, whenQueued: (RouterService.RequestID) -> Void
    ) async -> Result<RouterService.Lease, RouterError> {
        switch await service.admit(model) {
        case .granted(let lease):
            return .success(lease)
        case .rejected(let error):
            return .failure(error)
        case .queued(let id):
            whenQueued(id)
            return await turn(of: id, model: model.name)
        }
    }

    /// A queued request's lease, when its turn comes; its rejection, or `.cancelled` when its client left.
    func turn(of id: RouterService.RequestID, model: String) async -> Result<RouterService.Lease, RouterError> {
        do {
            return .success(try await service.wait(id))
        } catch let error as RouterError {
            return .failure(error)
        } catch {
            return .failure(RouterError(.cancelled, model: model))
        }
    }

    /// The body of a request to the router itself, refused with 413 past the limit.
    private func collect(_ request: Request) async throws(RouterError) -> ByteBuffer {
        let limit = settings.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            await discard(request, upTo: 4 * limit)
            throw RouterError(.tooLarge(limitMB: limit >> 20))
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            await discard(request, upTo: 4 * limit)
            throw RouterError(.tooLarge(limitMB: limit >> 20))
        } catch {
            throw RouterError(.badRequest("could not read the request body: \(error)"))
        }
    }

    /// Reads and drops a refused body, so that the client, which sends it before it reads an answer, gets the 413;
    /// past `limit` the connection is cut instead.
    private func discard(_ request: Request, upTo limit: Int) async {
        var seen = 0
        do {
            for try await chunk in request.body {
                seen += chunk.readableBytes
                if seen > limit { return }
            }
        } catch {}
    }

    /// Counts and records a relayed request.
    func finished(_ outcome: ForwardHandler.Outcome, model: String, path: String, started: ContinuousClock.Instant) {
        metrics(model: model, status: outcome.status, started: started, firstByte: outcome.timeToFirstByte)
        record(
            RouterRequestRecord(
                time: Date().timeIntervalSince1970 - Self.seconds(.now - started), model: model, path: path,
                status: outcome.status, promptTokens: outcome.usage.prompt, completionTokens: outcome.usage.completion,
                timeToFirstByte: outcome.timeToFirstByte.map(Self.seconds), duration: Self.seconds(.now - started)))
    }

    private func loadOrUnload(_ request: Request, unload: Bool) async throws(RouterError) -> String {
        let body = try await collect(request)
        guard let requested = try RequestModel.fromJSON(body) else {
            throw RouterError(.badRequest("the body needs {\"model\": NAME}"))
        }
        guard let model = await service.resolve(requested) else {
            let known = await service.statuses().map(\.model.name)
            throw RouterError(.unknownModel(requested: requested, known: known))
        }
        if unload {
            let done = await service.unload(model.name)
            return #"{"success":\#(done)}"#
        }
        do {
            try await service.load(model)
        } catch let error as RouterError {
            throw error
        } catch {
            throw RouterError(.upstream("\(error)"), model: model.name)
        }
        return #"{"success":true}"#
    }

    private func metricsText() async -> String {
        // The daemon's instance list reads the state store and the configs: off the router's loop, which every
        // other request and stream shares.
        await withTaskExecutorPreference(globalConcurrentExecutor) { await beforeScrape() }
        var text = service.metrics.text()
        let loaded = await service.statuses().filter { $0.phase == .loaded }
        var merged = PrometheusMerge()
        for status in loaded {
            var upstream = HTTPClientRequest(url: "http://\(status.model.host):\(status.model.port)/metrics")
            upstream.method = .GET
            guard let response = try? await client.execute(upstream, timeout: .seconds(2)), response.status == .ok,
                let bytes = try? await response.body.collect(upTo: 4 << 20)
            else { continue }
            merged.add(String(buffer: bytes), model: status.model.name)
        }
        text += merged.text
        return text
    }

    func metrics(
        model: String, status: Int, started: ContinuousClock.Instant, firstByte: Duration? = nil
    ) {
        service.metrics.request(
            model: model.isEmpty ? "none" : model, status: status, timeToFirstByte: firstByte,
            duration: .now - started)
    }

    // MARK: Responses

    static func json() -> HTTPResponse {
        var head = HTTPResponse(status: .ok)
        head.headerFields[.contentType] = "application/json"
        return head
    }

    static func errorHead(_ error: RouterError) -> HTTPResponse {
        var head = HTTPResponse(status: .init(code: error.status))
        head.headerFields[.contentType] = "application/json"
        if error.status == 429 || error.status == 503 { head.headerFields[.retryAfter] = "1" }
        // The body was not read.
        if error.status == 413 { head.headerFields[.connection] = "close" }
        if error.status == 401 { head.headerFields[.wwwAuthenticate] = #"Bearer realm="llama-orch""# }
        if case .methodNotAllowed(_, _, let allowed) = error.kind {
            head.headerFields[.allow] = allowed.joined(separator: ", ")
        }
        return head
    }

    static func bytes(_ text: String) -> ResponseBody {
        ResponseBody(byteBuffer: ByteBuffer(string: text))
    }

    static func bytes(_ data: Data) -> ResponseBody {
        ResponseBody(byteBuffer: ByteBuffer(bytes: data))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
