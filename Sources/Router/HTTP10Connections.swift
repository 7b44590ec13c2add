import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1.0 clients (HAProxy's and nagios's health checks by default, old scripts), seen before the HTTP version is
/// lost in the conversion to swift-http-types:
/// - a request that did not ask to keep its connection is marked `Connection: close`: the router's handlers then
///   close the connection after the answer, as such a client expects;
/// - an answer of unknown length (a relayed stream) is not chunked, which an HTTP/1.0 client cannot read: it goes
///   as HTTP/1.0 with `Connection: close`, its end being the connection's.
final class HTTP10Connections: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// For each request read and not yet answered, in order (a client may pipeline): whether it is HTTP/1.0.
    private var unanswered = CircularBuffer<Bool>()
    /// The answer being written ends with the connection.
    private var closeAfterAnswer = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        unanswered.append(head.version == .http1_0)
        guard head.version == .http1_0, !head.isKeepAlive else { return context.fireChannelRead(data) }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            let http10 = unanswered.popFirst() ?? false
            guard http10, head.status.mayHaveResponseBody, !head.headers.contains(name: "content-length") else {
                break
            }
            head.version = .http1_0
            head.headers.replaceOrAdd(name: "Connection", value: "close")
            closeAfterAnswer = true
            return context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end where closeAfterAnswer:
            closeAfterAnswer = false
            let written = promise ?? context.eventLoop.makePromise()
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            return context.write(data, promise: written)
        case .head, .body, .end:
            break
        }
        context.write(data, promise: promise)
    }

    /// Puts the handler before the conversion to swift-http-types in `pipeline`.
    static func add(to pipeline: ChannelPipeline.SynchronousOperations) {
        guard let codec = try? pipeline.context(handlerType: HTTP1ToHTTPServerCodec.self) else { return }
        try? pipeline.addHandler(HTTP10Connections(), position: .before(codec.handler))
    }
}
