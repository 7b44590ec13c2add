import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Marks an HTTP/1.0 request that did not ask to keep its connection with `Connection: close`, before the HTTP
/// version is lost in the conversion to swift-http-types: the router's handlers then close the connection after the
/// answer, as an HTTP/1.0 client expects (HAProxy's and nagios's health checks wait for the close by default).
final class HTTP10Connections: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version == .http1_0, !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    /// Puts the handler before the conversion to swift-http-types in `pipeline`.
    static func add(to pipeline: ChannelPipeline.SynchronousOperations) {
        guard let codec = try? pipeline.context(handlerType: HTTP1ToHTTPServerCodec.self) else { return }
        try? pipeline.addHandler(HTTP10Connections(), position: .before(codec.handler))
    }
}
