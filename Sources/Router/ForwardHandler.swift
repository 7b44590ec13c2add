import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The router's forward path: every request that names a model (in its JSON body, a multipart field, `?model=` or
/// an `/upstream/{model}/` path) is collected, admitted and relayed by this handler in the connection's pipeline, in
/// front of HummingbirdCore's responder, which answers the router's own endpoints (`/health`, `/v1/models`,
/// `/models/load`, `/metrics`) and refuses what no route takes.
///
/// Why not the responder: its async layers (HummingbirdCore's request and response streams, AsyncHTTPClient's
/// async API) cost the router more than the proxying itself and put the `bench/router` goal (a) out of reach; the
/// floor measured beside them (bench/router-floor) is what these handlers are built on.
///
/// A request is collected whole (within `router.max_body_mb`: past it, 413 once the body has been read, up to four
/// times the limit, then the connection closes), then the `RouterService` gives a lease: on the loop itself for a
/// loaded model, else in a task (a name to look up, a model to start, a wait in the queue; a client that leaves
/// while queued is removed from the queue). The request goes to a kept-alive connection from the `UpstreamPool`;
/// the answer's parts are written to the client as they come (each event of a stream in its own write), with the
/// client's backpressure passed on (the server's connection stops reading), the stream idle timeout, an error event
/// when the server dies mid-stream, and the server's connection closed when the client leaves, so that llama-server
/// stops generating. Requests are answered one at a time and in order, whichever side answers them. Everything runs
/// on the connection's event loop, the router's one loop.
final class ForwardHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamExchange, @unchecked Sendable {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Where a request names its model.
    enum Route: Equatable {
        case json
        case multipart(contentType: String)
        case query(model: String?)
        /// `/upstream/{model}/rest`: the model and the path sent upstream.
        case upstream(model: String, path: String)
    }

    private enum State {
        case idle
        /// A request of this handler's, its body coming.
        case collecting(HTTPRequest, Route, ByteBuffer)
        /// A body over the limit, read and dropped (`seen` bytes so far) before the 413.
        case refusing(seen: Int)
        /// Answered, the connection closing after the answer: what the client still sends is dropped.
        case closing
        /// The request is the responder's: its parts go on.
        case passing
        /// A request of this handler's came while the responder still owed answers: it waits in `held`.
        case behindResponder
        /// Waiting for a lease; the id once the request is in the queue.
        case admitting(queued: RouterService.RequestID?)
        case relaying
    }

    /// One request relayed and its answer (a class: it changes with every part of the answer).
    private final class Exchange {
        let lease: RouterService.Lease
        let head: HTTPRequest
        let body: ByteBuffer
        let started: ContinuousClock.Instant
        /// The client's path, for the request log.
        let path: String
        var model: RoutableModel { lease.model }
        var outcome = Outcome(status: 502)
        var connection: UpstreamConnection?
        var reused = false
        var retried = false
        var headSent = false
        var isEventStream = false
        var keepAlive = true
        var lastByte = NIODeadline.now()
        var idleCheck: Scheduled<Void>?

        init(
            lease: RouterService.Lease, head: HTTPRequest, body: ByteBuffer, started: ContinuousClock.Instant,
            path: String
        ) {
            self.lease = lease
            self.head = head
            self.body = body
            self.started = started
            self.path = String(path.prefix { $0 != "?" })
        }
    }

    private let server: RouterServer
    private var context: ChannelHandlerContext?
    private var state = State.idle
    private var exchange: Exchange?
    /// The path the client asked for, for the request log (an `/upstream/{model}/` request's is not the server's).
    private var clientPath = "/"
    /// The `Origin` of the request answered (a browser's page), for the CORS fields of its answer.
    private var clientOrigin: String?
    /// Answers the responder owes for requests passed on: a request of this handler's waits for them (answers go
    /// out in the order of the requests).
    private var owed = 0
    /// Parts that came while a request of this handler's was answered (a pipelining client), read after it.
    private var held: [HTTPRequestPart] = []
    /// A `read` asked for while a request was answered, done after it.
    private var readWithheld = false
    /// The client's end of input, told to the responder after the answer in progress.
    private var inputClosedWithheld = false
    /// Bytes after the held requests did not parse: told to the responder once they are answered.
    private var parseError: (any Error)?
    private var closeAfter = false
    private var clientGone = false
    /// The server is shutting down: the connection closes after the answer in progress.
    private var quiesceWithheld = false
    /// The last write of the answer in progress, to close the connection after it.
    private var lastWrite: EventLoopFuture<Void>?
    /// When a request part last came or an answer last ended: a connection on which nothing is answered is closed
    /// `clientIdleTimeout` after it (idle keep-alive connections, and heads or bodies that stop coming, would
    /// otherwise hold the daemon's file descriptors for good).
    private var lastActivity = NIODeadline.now()
    private var idleWatch: Scheduled<Void>?

    init(server: RouterServer) {
        self.server = server
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        HTTP10Connections.add(to: context.pipeline.syncOperations)
        if context.channel.isActive { watchIdle(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        idleWatch?.cancel()
        idleWatch = nil
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        watchIdle(context: context)
        context.fireChannelActive()
    }

    // MARK: From the client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = .now()
        handle(unwrapInboundIn(data), context: context)
    }

    /// Closes the connection once it has gone `clientIdleTimeout` without a request part while nothing was
    /// answered on it; checked once per timeout, not per request.
    private func watchIdle(context: ChannelHandlerContext) {
        guard idleWatch == nil, let limit = server.settings.clientIdleTimeout.map(TimeAmount.init) else { return }
        lastActivity = .now()
        checkClientIdle(after: limit, limit: limit)
    }

    private func checkClientIdle(after delay: TimeAmount, limit: TimeAmount) {
        idleWatch = context?.eventLoop.scheduleTask(in: delay) {
            guard let context = self.context else { return }
            let quiet = NIODeadline.now() - self.lastActivity
            if self.owesAnswer {
                self.checkClientIdle(after: limit, limit: limit)
            } else if quiet >= limit {
                self.idleWatch = nil
                context.close(promise: nil)
            } else {
                self.checkClientIdle(after: limit - quiet, limit: limit)
            }
        }
    }

    /// An answer is owed on the connection, by this handler or by the responder (which may wait minutes for a
    /// load).
    private var owesAnswer: Bool {
        if case .idle = state { return owed > 0 }
        return answering
    }

    private func handle(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if answering { return held.append(part) }
        let limit = server.settings.maxBodyBytes
        switch (state, part) {
        case (.idle, .head(let head)):
            guard let route = route(of: head) else {
                owed += 1
                state = .passing
                return context.fireChannelRead(wrapInboundOut(part))
            }
            if owed > 0 {
                // Answers go out in the order of the requests: this one waits for the responder's (first of the
                // parts held: when `held` is being read again, the rest of this request is in it already).
                state = .behindResponder
                return held.insert(part, at: 0)
            }
            clientOrigin = head.headerFields[.origin]
            let length = head.headerFields[.contentLength].flatMap { Int($0) }
            // A client that sends `Expect: 100-continue` (curl does for a body over 1 MiB) waits for the word
            // before it sends its body; without one it waits a second and sends it anyway.
            let expectsContinue = head.headerFields[.expect]?.lowercased() == "100-continue"
            if let length, length > limit {
                // Such a client is told no at once, and has not sent the body to be read.
                guard expectsContinue else { return state = .refusing(seen: 0) }
                return refuse(context: context)
            }
            if expectsContinue {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
            state = .collecting(head, route, context.channel.allocator.buffer(capacity: min(length ?? 0, limit)))
        case (.collecting(let head, let route, var body), .body(let bytes)):
            guard body.readableBytes + bytes.readableBytes <= limit else {
                return state = .refusing(seen: body.readableBytes + bytes.readableBytes)
            }
            state = .idle
            body.writeImmutableBuffer(bytes)
            state = .collecting(head, route, body)
        case (.collecting(let head, let route, let body), .end):
            decide(head, route, body, context: context)
        case (.refusing(let seen), .body(let bytes)):
            state = .refusing(seen: seen + bytes.readableBytes)
            if seen + bytes.readableBytes > 4 * limit { refuse(context: context) }
        case (.refusing, .end):
            refuse(context: context)
        case (.refusing, _), (.closing, _):
            break
        case (.passing, .end):
            state = .idle
            context.fireChannelRead(wrapInboundOut(part))
        default:
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// Where a request names its model; `nil` for the responder's requests (the router's own endpoints, paths no
    /// route takes, a client without the key when keys are set).
    private func route(of head: HTTPRequest) -> Route? {
        guard let path = head.path, !CORSPolicy.isPreflight(head) else { return nil }
        // A name not this machine's (DNS rebinding), like a page not allowed, is the responder's to refuse.
        if !server.settings.hosts.allows(head.authority) { return nil }
        // A browser's request from a page the policy does not allow is the responder's to refuse (a form or a
        // `text/plain` POST needs no preflight: it could otherwise start models for any site the user visits).
        if let origin = head.headerFields[.origin], !server.settings.cors.allows(origin) { return nil }
        let keys = server.settings.apiKeys
        if !keys.isEmpty && !APIKeyCheck.accepts(head.headerFields, keys: keys) { return nil }
        let route = String(path.prefix { $0 != "?" })
        if route.hasPrefix("/upstream/") {
            let rest = path.dropFirst("/upstream/".count)
            let name = String(rest.prefix { $0 != "/" && $0 != "?" })
            let suffix = String(rest.dropFirst(name.count))
            return .upstream(
                model: name.removingPercentEncoding ?? name, path: suffix.hasPrefix("/") ? suffix : "/" + suffix)
        }
        switch head.method {
        case .get where RequestModel.queryEndpoints.contains(route):
            let model = URLComponents(string: path)?.queryItems?.first { $0.name == "model" }?.value
            // `GET /metrics` alone is the router's own.
            if route == "/metrics" && model == nil { return nil }
            return .query(model: model)
        case .post where route == "/v1/audio/transcriptions":
            return .multipart(contentType: head.headerFields[.contentType] ?? "")
        case .post where RequestModel.jsonEndpoints.contains(route):
            return .json
        default:
            return nil
        }
    }

    /// Answers a body over the limit with 413, then closes the connection.
    private func refuse(context: ChannelHandlerContext) {
        state = .idle
        closeAfter = true
        let error = RouterError(.tooLarge(limitMB: server.settings.maxBodyBytes >> 20))
        server.metrics(model: "", status: error.status, started: .now)
        answer(error)
    }

    /// The model a request names, or why it is refused.
    private func requested(_ head: HTTPRequest, _ route: Route, _ body: ByteBuffer) throws(RouterError) -> String {
        let requested: String?
        switch route {
        case .json: requested = try RequestModel.fromJSON(body)
        case .multipart(let contentType): requested = RequestModel.fromMultipart(body, contentType: contentType)
        case .query(let model):
            guard let model else {
                throw RouterError(.badRequest("\(head.path?.prefix { $0 != "?" } ?? "") needs ?model=NAME"))
            }
            requested = model
        case .upstream(let model, _): requested = model
        }
        guard let requested, !requested.isEmpty else {
            throw RouterError(.badRequest("the request names no model: set \"model\" to one of the instances"))
        }
        return requested
    }

    private func decide(_ head: HTTPRequest, _ route: Route, _ body: ByteBuffer, context: ChannelHandlerContext) {
        let started = ContinuousClock.now
        state = .admitting(queued: nil)
        closeAfter = head.headerFields[.connection]?.lowercased().contains("close") ?? false
        let requested: String
        do {
            requested = try self.requested(head, route, body)
        } catch {
            server.metrics(model: "", status: error.status, started: started)
            return answer(error)
        }
        clientPath = head.path ?? "/"
        var head = head
        if case .upstream(_, let path) = route { head.path = path }
        let server = server
        // A loaded model's request is admitted here: the service's executor is this loop.
        let now = server.service.assumeIsolated { $0.admitNow(requested) }
        if let (model, admission) = now {
            switch admission {
            case .granted(let lease):
                return relay(head, body, lease: lease, started: started)
            case .rejected(let error):
                server.metrics(model: error.model, status: error.status, started: started)
                return answer(error)
            case .queued(let id):
                state = .admitting(queued: id)
                return lease(head, body, started: started) { await server.turn(of: id, model: model.name) }
            }
        }
        // A name to look up, a model to start: in a task, on this loop as well.
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        lease(head, body, started: started) {
            await server.lease(for: requested, whenQueued: { this.value.queued($0) })
        }
    }

    /// Waits for a lease in a task on the router's loop, then relays the request or answers why not.
    private func lease(
        _ head: HTTPRequest, _ body: ByteBuffer, started: ContinuousClock.Instant,
        _ wait: @escaping @Sendable () async -> Result<RouterService.Lease, RouterError>
    ) {
        let server = server
        let this = NIOLoopBound(self, eventLoop: server.executor.loop)
        // On the router's loop (the connection's), so `this.value` may be used between awaits.
        Task(executorPreference: server.executor) {
            switch await wait() {
            case .success(let lease):
                this.value.relay(head, body, lease: lease, started: started)
            case .failure(let error):
                server.metrics(model: error.model, status: error.status, started: started)
                this.value.answer(error)
            }
        }
    }

    private func queued(_ id: RouterService.RequestID) {
        guard case .admitting = state else { return }
        state = .admitting(queued: id)
        if clientGone { cancel(id) }
    }

    private func cancel(_ id: RouterService.RequestID) {
        server.service.assumeIsolated { $0.cancel(id) }
    }

    /// The router's own answer (an error): the request was not relayed.
    private func answer(_ error: RouterError) {
        if let context, !clientGone { write(error, context: context) }
        next()
    }

    /// An error envelope, whole.
    private func write(_ error: RouterError, context: ChannelHandlerContext) {
        var head = RouterServer.errorHead(error)
        let body = ByteBuffer(bytes: error.body)
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields.append(contentsOf: server.settings.cors.answerFields(origin: clientOrigin))
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        lastWrite = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    }

    /// Ready for the client's next request: parts that came meanwhile are read, then the connection again.
    private func next() {
        state = .idle
        lastActivity = .now()
        guard let context else { return }
        let lastWrite = lastWrite
        self.lastWrite = nil
        if clientGone {
            return context.close(promise: nil)
        }
        if closeAfter || quiesceWithheld {
            state = .closing
            // After the answer's last bytes: a close now would drop what a slow client has not taken yet.
            let channel = context.channel
            (lastWrite ?? context.eventLoop.makeSucceededVoidFuture()).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        if !held.isEmpty {
            while !held.isEmpty && !answering {
                handle(held.removeFirst(), context: context)
            }
            // The responder's channel takes what it was given at the end of a read.
            context.fireChannelReadComplete()
        }
        // (`.closing`: a request read again was answered with an error that closes the connection.)
        if answering || isClosing { return }
        if let parseError {
            self.parseError = nil
            return refuseUnparsed(parseError, context: context)
        }
        if inputClosedWithheld {
            inputClosedWithheld = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        if readWithheld {
            readWithheld = false
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // The server is stopping: the responder, which has not seen this handler's requests, would close the
            // connection at once; the answer in progress gets `shutdownGrace` to end first.
            switch state {
            case .collecting, .refusing, .admitting, .relaying, .closing:
                // (`.closing`: the close is on its way once a slow client takes the answer's last bytes.)
                quiesceWithheld = true
                context.eventLoop.scheduleTask(in: Self.shutdownGrace) { self.cutForShutdown() }
            case .idle, .passing, .behindResponder: context.fireUserInboundEventTriggered(event)
            }
            return
        }
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            return context.fireUserInboundEventTriggered(event)
        }
        switch state {
        case .admitting(let queued?):
            // Gone while it waits in the queue: out of it (it would start a model for nobody).
            clientGone = true
            cancel(queued)
        case .admitting(nil), .relaying, .collecting, .refusing, .behindResponder:
            // A client may half-close once it has sent its request; one that left is seen when a write fails.
            inputClosedWithheld = true
        case .closing:
            break  // the connection closes after the answer's last bytes anyway
        case .idle, .passing:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// How long an answer in progress may go on once the daemon stops (`daemon stop --keep-instances` leaves the
    /// servers running: a stream would otherwise hold the daemon for as long as it lasts).
    static let shutdownGrace = TimeAmount.seconds(10)

    /// Ends the answer still in progress `shutdownGrace` after the server began to stop: the server's connection
    /// is closed (llama-server stops generating) and the lease given back; a stream gets an error event; the
    /// client's connection closes once that is written, or a second later for a client that does not read (its
    /// connection would otherwise hold the daemon's stop).
    private func cutForShutdown() {
        guard let context else { return }
        let channel = context.channel
        switch state {
        case .relaying: break
        case .collecting, .refusing, .admitting, .closing: return channel.close(promise: nil)
        case .idle, .passing, .behindResponder: return
        }
        guard let exchange else { return channel.close(promise: nil) }
        if exchange.headSent && exchange.isEventStream && channel.isWritable {
            let error = RouterError(
                .upstream("the answer was cut: the llama-orch daemon is stopping"), model: exchange.model.name)
            lastWrite = context.writeAndFlush(wrapOutboundOut(.body(Self.event(error))))
        }
        closeAfter = true
        // Closes the server's connection, then `next()` closes the client's after `lastWrite`.
        complete(error: ShutdownCut())
        context.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }

    struct ShutdownCut: Error, CustomStringConvertible {
        var description: String {
            "cut \(ForwardHandler.shutdownGrace.nanoseconds / 1_000_000_000) s after the daemon began to stop"
        }
    }

    /// An error as a server-sent event, to end a stream whose head has gone out.
    private static func event(_ error: RouterError) -> ByteBuffer {
        var event = ByteBuffer(string: "data: ")
        event.writeBytes(error.body)
        event.writeString("\n\n")
        return event
    }

    func channelInactive(context: ChannelHandlerContext) {
        clientGone = true
        switch state {
        case .admitting(let queued):
            if let queued { cancel(queued) }
        case .relaying:
            // llama-server stops generating when its connection closes.
            if let exchange, let connection = exchange.connection {
                connection.exchange = nil
                connection.channel.close(promise: nil)
                exchange.connection = nil
            }
            complete(error: ClientGone())
        case .idle, .collecting, .refusing, .passing, .behindResponder, .closing:
            break
        }
        context.fireChannelInactive()
    }

    /// A request the client sent after this one does not parse: this answer and those of the complete requests
    /// held after it are finished first, in order, then the error goes on to the responder, which answers 400 and
    /// closes the connection (passed on now, it would write its 400 into the middle of this answer).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if isClosing { return }  // the connection closes after the answer's last bytes anyway
        guard answering else { return refuseUnparsed(error, context: context) }
        // The first one: reads that follow it raise another kind (`dataReceivedInErrorState`), which says nothing.
        if parseError == nil { parseError = error }
    }

    /// Bytes that are not HTTP/1.1 get an error envelope (400, or 431 for a head over NIO's limits) and the
    /// connection closes; a request they cut short is not answered. Other errors, and a parse error while the
    /// responder still owes answers (its 400 then follows them), go on to the responder.
    private func refuseUnparsed(_ error: any Error, context: ChannelHandlerContext) {
        guard owed == 0, let parserError = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        closeAfter = true
        let refusal =
            parserError == .headerOverflow
            ? RouterError(.headTooLarge)
            : RouterError(.badRequest("the request is not valid HTTP/1.1: \(parserError)"))
        server.metrics(model: "", status: refusal.status, started: .now)
        answer(refusal)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let connection = exchange?.connection {
            try? connection.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: To the client

    /// The responder's answers pass; each end settles one it owed.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data) else { return }
        owed = max(0, owed - 1)
        lastActivity = .now()
        if owed == 0, case .behindResponder = state {
            // The request held behind the responder's answers is read now (not inside the responder's write).
            context.eventLoop.execute { self.next() }
        }
    }

    private var isClosing: Bool {
        if case .closing = state { true } else { false }
    }

    /// A request of this handler's is being answered.
    private var answering: Bool {
        switch state {
        case .admitting, .relaying, .behindResponder: true
        case .idle, .collecting, .refusing, .passing, .closing: false
        }
    }

    /// Reads go on while a request of this handler's is answered (the next request of a client that pipelines
    /// waits in `held`), up to a few parts: then they wait for the answer. (Stopping at once would cost two
    /// `epoll_ctl` calls a request.)
    func read(context: ChannelHandlerContext) {
        if answering && held.count >= Self.heldLimit {
            readWithheld = true
        } else {
            context.read()
        }
    }

    static let heldLimit = 16

    // MARK: Relaying

    private func relay(
        _ head: HTTPRequest, _ body: ByteBuffer, lease: RouterService.Lease, started: ContinuousClock.Instant
    ) {
        let model = lease.model
        guard context != nil, !clientGone else {
            server.service.assumeIsolated { $0.release(lease) }
            return next()
        }
        var upstream = HTTPRequest(
            method: head.method, scheme: nil, authority: "\(model.host):\(model.port)", path: head.path)
        for field in head.headerFields {
            let name = field.name.canonicalName
            guard !Self.hopByHop.contains(name),
                server.settings.apiKeys.isEmpty || !Self.routerCredentials.contains(name)
            else { continue }
            upstream.headerFields.append(field)
        }
        upstream.headerFields[.contentLength] = String(body.readableBytes)
        state = .relaying
        exchange = Exchange(lease: lease, head: upstream, body: body, started: started, path: clientPath)
        send()
    }

    /// Sends the request on a pooled connection.
    private func send() {
        guard let model = exchange?.model else { return }
        let fresh = exchange?.retried ?? false
        server.pool.acquire(host: model.host, port: model.port, fresh: fresh).whenComplete { result in
            guard let exchange = self.exchange, exchange.connection == nil, case .relaying = self.state else {
                if case .success(let (connection, _)) = result { self.server.pool.release(connection, keepAlive: true) }
                return
            }
            switch result {
            case .success(let (connection, reused)):
                exchange.connection = connection
                exchange.reused = reused
                connection.exchange = self
                connection.channel.write(HTTPRequestPart.head(exchange.head), promise: nil)
                if exchange.body.readableBytes > 0 {
                    connection.channel.write(HTTPRequestPart.body(exchange.body), promise: nil)
                }
                // A write that fails (the connection stays open) would leave the request waiting for nothing.
                connection.channel.writeAndFlush(HTTPRequestPart.end(nil)).whenFailure { error in
                    connection.channel.pipeline.fireErrorCaught(error)
                }
            case .failure(let error):
                self.failBeforeAnswer(error)
            }
        }
    }

    func upstream(_ part: HTTPResponsePart) {
        guard let context, let exchange else { return }
        switch part {
        case .head(let response):
            guard response.status.kind != .informational else { return }
            var head = HTTPResponse(status: response.status)
            for field in response.headerFields {
                let name = field.name.canonicalName
                guard !Self.notRelayed.contains(name) else { continue }
                head.headerFields.append(field)
            }
            head.headerFields.append(contentsOf: server.settings.cors.answerFields(origin: clientOrigin))
            exchange.isEventStream = response.headerFields[.contentType]?.hasPrefix("text/event-stream") ?? false
            if exchange.isEventStream {
                head.headerFields[HTTPField.Name("X-Accel-Buffering")!] = "no"
                head.headerFields[.cacheControl] = "no-cache"
            }
            exchange.keepAlive = !(response.headerFields[.connection]?.lowercased().contains("close") ?? false)
            exchange.outcome.status = response.status.code
            exchange.headSent = true
            exchange.lastByte = .now()
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        case .body(let bytes):
            if exchange.outcome.timeToFirstByte == nil { exchange.outcome.timeToFirstByte = .now - exchange.started }
            exchange.lastByte = .now()
            exchange.outcome.usage.scan(bytes)
            // Each event of a stream its own write, as it comes; other answers in one write a read.
            if exchange.isEventStream {
                context.writeAndFlush(wrapOutboundOut(.body(bytes)), promise: nil)
            } else {
                context.write(wrapOutboundOut(.body(bytes)), promise: nil)
            }
            if !context.channel.isWritable, let connection = exchange.connection {
                try? connection.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
            }
        case .end:
            if exchange.outcome.timeToFirstByte == nil { exchange.outcome.timeToFirstByte = .now - exchange.started }
            exchange.outcome.usage.parse()
            lastWrite = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if let connection = exchange.connection {
                exchange.connection = nil
                server.pool.release(connection, keepAlive: exchange.keepAlive)
            }
            complete(error: nil)
        }
    }

    func upstreamReadComplete() {
        guard let exchange, exchange.headSent else { return }
        context?.flush()
        // The idle watch starts once an answer takes more than one read (most small answers come whole in one).
        if exchange.idleCheck == nil, let idle = server.settings.streamIdleTimeout {
            checkIdle(after: TimeAmount(idle))
        }
    }

    func upstreamFailed(_ error: any Error) {
        guard let exchange else { return }
        exchange.connection = nil
        if !exchange.headSent {
            // A kept-alive connection the server closed as it was reused: once more on a new one.
            if exchange.reused && !exchange.retried {
                exchange.retried = true
                return send()
            }
            return failBeforeAnswer(error)
        }
        if exchange.isEventStream, let context {
            // The client may still be there (the server failed): say why before the connection is cut.
            let failure = RouterError(.upstream("the answer broke off: \(error)"), model: exchange.model.name)
            lastWrite = context.writeAndFlush(wrapOutboundOut(.body(Self.event(failure))))
        }
        closeAfter = true
        complete(error: error)
    }

    private func failBeforeAnswer(_ error: any Error) {
        guard let exchange else { return }
        let failure = RouterError(
            .upstream("llama-server at \(exchange.model.host):\(exchange.model.port) did not answer: \(error)"),
            model: exchange.model.name)
        if let context { write(failure, context: context) }
        exchange.outcome.status = failure.status
        complete(error: nil)
    }

    /// Ends the exchange: the lease back, the request counted and recorded, then the client's next request.
    private func complete(error: (any Error)?) {
        guard let exchange else { return }
        self.exchange = nil
        exchange.idleCheck?.cancel()
        if let connection = exchange.connection {
            connection.exchange = nil
            connection.channel.close(promise: nil)
        }
        exchange.outcome.error = error
        let lease = exchange.lease
        server.service.assumeIsolated { $0.release(lease) }
        server.finished(exchange.outcome, model: exchange.model.name, path: exchange.path, started: exchange.started)
        next()
    }

    /// The stream idle timeout: a server silent that long once its answer began is cut off.
    private func checkIdle(after delay: TimeAmount) {
        guard let context else { return }
        exchange?.idleCheck = context.eventLoop.scheduleTask(in: delay) {
            guard let exchange = self.exchange, exchange.headSent, let limit = self.server.settings.streamIdleTimeout
            else { return }
            let silent = NIODeadline.now() - exchange.lastByte
            if silent >= TimeAmount(limit) {
                if let connection = exchange.connection {
                    connection.exchange = nil
                    connection.channel.close(promise: nil)
                }
                self.upstreamFailed(IdleTimeout(limit: limit))
            } else {
                self.checkIdle(after: TimeAmount(limit) - silent)
            }
        }
    }

    /// What became of a relayed request, for the metrics and the request log.
    struct Outcome {
        var status: Int
        var timeToFirstByte: Duration?
        var usage = Usage()
        /// Set when the answer could not be completed: the connection is then cut.
        var error: (any Error)?
    }

    /// Request headers that belong to one connection, not to the request (and `expect`: the body goes with the
    /// head).
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length", "expect",
    ]
    /// The router's own credentials are not passed on.
    static let routerCredentials: Set<String> = ["authorization", "x-api-key"]

    struct IdleTimeout: Error, CustomStringConvertible {
        var limit: Duration
        var description: String {
            "no byte from llama-server for \(limit.components.seconds) s (router.stream_idle_timeout)"
        }
    }

    /// Response headers that belong to the server's connection, and llama-server's CORS fields (the router's
    /// policy replaces them).
    static let notRelayed: Set<String> = CORSPolicy.serverFields.union([
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "transfer-encoding", "upgrade", "te",
        "trailer",
    ])

    struct ClientGone: Error, CustomStringConvertible {
        var description: String { "the client closed its connection" }
    }
}
