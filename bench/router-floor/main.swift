import NIOCore
import NIOHTTP1
import NIOPosix

// The floor the router benchmark compares with: the leanest HTTP/1 proxy NIO allows, with no routing, no
// scheduling, no metrics and no async/await. Each inbound connection gets one kept-alive upstream connection on
// its own event loop; request and response parts are relayed as they come. It answers what a proxy in Swift on
// this machine costs at best, so that the router's figures can be read against it (bench/router/bench.py).
//
// Usage: bench-router-floor LISTEN_PORT UPSTREAM_PORT [THREADS]

let arguments = CommandLine.arguments
guard arguments.count >= 3, let listenPort = Int(arguments[1]), let upstreamPort = Int(arguments[2]) else {
    print("usage: bench-router-floor LISTEN_PORT UPSTREAM_PORT [THREADS]")
    exit(64)
}
let threads = arguments.count > 3 ? Int(arguments[3]) ?? 2 : 2

/// Relays an upstream answer to the inbound connection.
final class AnswerRelay: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let inbound: any Channel
    let proxy: RequestRelay

    init(inbound: any Channel, proxy: RequestRelay) {
        self.inbound = inbound
        self.proxy = proxy
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            var head = HTTPResponseHead(version: .http1_1, status: head.status, headers: head.headers)
            head.headers.remove(name: "connection")
            head.headers.remove(name: "keep-alive")
            inbound.write(HTTPServerResponsePart.head(head), promise: nil)
        case .body(let bytes):
            inbound.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(bytes)), promise: nil)
        case .end(let trailers):
            inbound.writeAndFlush(HTTPServerResponsePart.end(trailers), promise: nil)
        }
    }

    /// llama-server closes a kept-alive connection after 100 requests: the next request opens another.
    func channelInactive(context: ChannelHandlerContext) {
        proxy.upstreamClosed()
    }
}

/// Sends an inbound connection's requests upstream.
final class RequestRelay: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    let upstreamPort: Int
    var upstream: (any Channel)?
    var pending: [HTTPClientRequestPart] = []
    var connecting = false

    init(upstreamPort: Int) {
        self.upstreamPort = upstreamPort
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part: HTTPClientRequestPart
        switch unwrapInboundIn(data) {
        case .head(let head):
            var head = HTTPRequestHead(version: .http1_1, method: head.method, uri: head.uri, headers: head.headers)
            head.headers.remove(name: "connection")
            part = .head(head)
        case .body(let bytes): part = .body(.byteBuffer(bytes))
        case .end(let trailers): part = .end(trailers)
        }
        if let upstream {
            if case .end = part {
                upstream.writeAndFlush(part, promise: nil)
            } else {
                upstream.write(part, promise: nil)
            }
            return
        }
        pending.append(part)
        guard !connecting else { return }
        connecting = true
        let inbound = context.channel
        // Every callback runs on this connection's loop.
        let relay = NIOLoopBound(self, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(AnswerRelay(inbound: inbound, proxy: relay.value))
                }
            }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .whenComplete { result in
                let relay = relay.value
                switch result {
                case .success(let channel):
                    relay.upstream = channel
                    for part in relay.pending { channel.write(part, promise: nil) }
                    channel.flush()
                    relay.pending = []
                case .failure:
                    inbound.close(promise: nil)
                }
            }
    }

    func upstreamClosed() {
        upstream = nil
        connecting = false
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.close(promise: nil)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let server = try ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline()
            try channel.pipeline.syncOperations.addHandler(RequestRelay(upstreamPort: upstreamPort))
        }
    }
    .bind(host: "127.0.0.1", port: listenPort).wait()
print("bench-router-floor: 127.0.0.1:\(listenPort) -> 127.0.0.1:\(upstreamPort), \(threads) event loops")
try server.closeFuture.wait()
