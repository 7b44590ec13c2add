import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOPosix

/// Kept-alive HTTP/1 connections to the llama-servers, for `ForwardHandler`: one request at a time on each, reused
/// while the server keeps it open. Lives on the router's event loop; every method is called there.
final class UpstreamPool: @unchecked Sendable {
    let loop: any EventLoop
    private var idle: [String: [UpstreamConnection]] = [:]
    private var closed = false

    /// Idle connections kept per server; more are closed when they come back.
    static let idleLimit = 64

    init(loop: any EventLoop) {
        self.loop = loop
    }

    /// A connection to `host:port`: an idle one (`reused`), else (or when `fresh`) a new one.
    func acquire(host: String, port: Int, fresh: Bool = false) -> EventLoopFuture<(UpstreamConnection, reused: Bool)> {
        loop.preconditionInEventLoop()
        let key = "\(host):\(port)"
        while !fresh, let connection = idle[key]?.popLast() {
            if connection.channel.isActive { return loop.makeSucceededFuture((connection, reused: true)) }
        }
        let pool = NIOLoopBound(self, eventLoop: loop)
        return ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = UpstreamConnection(channel: channel, key: key, pool: pool.value)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandlers([HTTP1ToHTTPClientCodec(), connection])
                }
            }
            .connect(host: host, port: port)
            .flatMapThrowing { channel in
                (try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self), reused: false)
            }
    }

    /// Takes a connection back after a whole answer; `keepAlive` false closes it.
    func release(_ connection: UpstreamConnection, keepAlive: Bool) {
        loop.preconditionInEventLoop()
        connection.exchange = nil
        // Reading may have been stopped for a slow client (`ForwardHandler`); the next request needs it.
        try? connection.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        guard keepAlive, !closed, connection.channel.isActive, idle[connection.key, default: []].count < Self.idleLimit
        else {
            connection.channel.close(promise: nil)
            return
        }
        idle[connection.key, default: []].append(connection)
    }

    /// A connection closed by its server while idle.
    func forget(_ connection: UpstreamConnection) {
        idle[connection.key]?.removeAll { $0 === connection }
    }

    /// Closes every idle connection; later releases close theirs.
    func close() {
        loop.preconditionInEventLoop()
        closed = true
        for connection in idle.values.joined() { connection.channel.close(promise: nil) }
        idle = [:]
    }
}

/// What a connection tells the request it carries.
protocol UpstreamExchange: AnyObject {
    func upstream(_ part: HTTPResponsePart)
    func upstreamReadComplete()
    /// The connection closed or failed before the answer ended.
    func upstreamFailed(_ error: any Error)
}

/// One kept-alive connection to a llama-server, the handler at the end of its pipeline: hands the answer to the
/// request it carries; closed while idle, it leaves the pool.
final class UpstreamConnection: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = HTTPResponsePart

    let channel: any Channel
    let key: String
    var exchange: (any UpstreamExchange)?
    private let pool: UpstreamPool

    init(channel: any Channel, key: String, pool: UpstreamPool) {
        self.channel = channel
        self.key = key
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        exchange?.upstream(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange {
            self.exchange = nil
            exchange.upstreamFailed(ChannelError.eof)
        } else {
            pool.forget(self)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange {
            self.exchange = nil
            exchange.upstreamFailed(error)
        }
        context.close(promise: nil)
    }
}
