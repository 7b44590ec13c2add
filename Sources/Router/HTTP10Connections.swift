import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// HTTP/1.0 clients (HAProxy's and nagios's health checks by default, old scripts), seen before the HTTP version is
/// lost in the conversion to swift-http-types:
/// - a request that did not ask to keep its connection is marked `Connection: close`: the router's handlers then
///   close the connection after the answer, as such a client expects;
/// - an answer of unknown length (a relayed stream) is not chunked, which an HTTP/1.0 client cannot read: it goes
///   as HTTP/1.0 with `Connection: close`, its end being the connection's.
///
/// And requests to switch protocols (`Upgrade: h2c`, which `curl --http2` sends, `Upgrade: websocket`, `CONNECT`):
/// NIO's parser reads nothing after one, so the connection can carry no other request. The request is answered in
/// HTTP/1.1 (the upgrade is declined, as RFC 9110 allows) with `Connection: close`, and the connection closes after
/// it; it would otherwise hang the client's next request until the client idle timeout.
final class HTTP10Connections: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// For each request read and not yet answered, in order (a client may pipeline): how its answer ends.
    private var unanswered = CircularBuffer<Ending>()

    private enum Ending {
        case asAsked
        /// An HTTP/1.0 request: an answer of unknown length ends with the connection.
        case http10
        /// A request to switch protocols: the connection closes after the answer.
        case upgrade
    }
    /// The answer being written ends with the connection.
    private var closeAfterAnswer = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
        let upgrade = Self.isUpgrade(head)
        // An HTTP/1.0 client gets HTTP/1.0 framing, an upgrade or not.
        let ending: Ending = head.version == .http1_0 ? .http10 : upgrade ? .upgrade : .asAsked
        unanswered.append(ending)
        guard upgrade || (ending == .http10 && !head.isKeepAlive) else {
            return context.fireChannelRead(data)
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        head.headers.remove(name: "Upgrade")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// What NIO's parser (llhttp) takes for a switch of protocols, after which it parses nothing.
    private static func isUpgrade(_ head: HTTPRequestHead) -> Bool {
        if head.method == .CONNECT { return true }
        guard head.headers.contains(name: "Upgrade") else { return false }
        return head.headers[canonicalForm: "Connection"].contains { $0.lowercased() == "upgrade" }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            let ending = unanswered.popFirst() ?? .asAsked
            if ending == .upgrade {
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                closeAfterAnswer = true
                return context.write(wrapOutboundOut(.head(head)), promise: promise)
            }
            guard ending == .http10, head.status.mayHaveResponseBody, !head.headers.contains(name: "content-length")
            else {
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
