import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Accepts one connection on a unix socket, reads the request (headers and `Content-Length` body), waits
/// `delay` seconds and writes what `respond` makes of it, on a thread of its own.
public final class OneShotServer: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    public private(set) var received: [UInt8] = []

    public init(unixPath: String, delay: Double = 0, respond: @escaping @Sendable ([UInt8]) -> [UInt8]) throws {
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(unixPath.utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in path.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listener, 4) == 0 else {
            close(listener)
            throw POSIXError(.EADDRINUSE)
        }
        let holder = Box()
        let thread = Thread { [done] in
            defer { done.signal() }
            let connection = accept(listener, nil, nil)
            close(listener)
            guard connection >= 0 else { return }
            defer { close(connection) }
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
                if count <= 0 { break }
                request += buffer[0..<count]
                let text = String(decoding: request, as: UTF8.self)
                if let end = text.range(of: "\r\n\r\n") {
                    let length =
                        text[..<end.lowerBound].split(separator: "\r\n")
                        .first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    if text[end.upperBound...].utf8.count >= length { break }
                }
            }
            holder.bytes = request
            if delay > 0 { usleep(UInt32(delay * 1_000_000)) }
            let answer = respond(request)
            _ = answer.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
        self.holder = holder
        thread.start()
    }

    private let holder: Box
    private final class Box: @unchecked Sendable { var bytes: [UInt8] = [] }

    public func join() {
        done.wait()
        received = holder.bytes
    }
}
