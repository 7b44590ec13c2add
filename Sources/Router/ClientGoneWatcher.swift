import NIOCore

/// Tells when the client of a connection goes away, by watching the connection's channel: its input closed (the
/// client's FIN; the server allows half-closed connections) or the channel gone. Put at the front of the pipeline
/// while a request waits in the queue, and removed after, so that the connection stays usable for the next
/// request.
///
/// (HummingbirdCore's `consumeWithInboundCloseHandler` does this by consuming the request's stream, which traps
/// once the body has been read, as the router must read it first to find the model.)
final class ClientGoneWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Called once, on the channel's event loop.
    private let onGone: @Sendable () -> Void
    private var told = false

    init(onGone: @escaping @Sendable () -> Void) {
        self.onGone = onGone
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { tell() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        tell()
        context.fireChannelInactive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if !context.channel.isActive { tell() }
    }

    private func tell() {
        guard !told else { return }
        told = true
        onGone()
    }
}
