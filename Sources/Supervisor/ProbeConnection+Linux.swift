import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One plain HTTP/1.1 exchange or TCP connect with a deadline, for health probes (no HTTP library: the
/// probes need a status code and a short body, nothing more).
///
/// Every call blocks a thread of its own, never one of Swift's cooperative pool, and never waits past its
/// deadline.
enum ProbeConnection {
    /// A response: status code and body.
    struct Response: Equatable {
        var status: Int
        var body: String
    }

    /// Sends one request (`Connection: close`) and reads the response until the server closes.
    static func request(
        host: String, port: Int, method: String, path: String, body: String? = nil, timeout: Duration
    ) async -> Result<Response, ProbeFailure> {
        await offThread {
            let deadline = ContinuousClock.now.advanced(by: timeout)
            let descriptor: Int32
            switch connect(host: host, port: port, deadline: deadline) {
            case .success(let connected): descriptor = connected
            case .failure(let failure): return .failure(failure)
            }
            defer { close(descriptor) }
            var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
            if let body {
                request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            } else {
                request += "\r\n"
            }
            if let failure = send(Array(request.utf8), on: descriptor, deadline: deadline) { return .failure(failure) }
            switch receiveAll(on: descriptor, deadline: deadline) {
            case .failure(let failure): return .failure(failure)
            case .success(let bytes):
                guard let response = parse(bytes) else { return .failure(.badResponse) }
                return .success(response)
            }
        }
    }

    /// Opens and closes a TCP connection.
    static func connectOnly(host: String, port: Int, timeout: Duration) async -> ProbeFailure? {
        await offThread {
            switch connect(host: host, port: port, deadline: ContinuousClock.now.advanced(by: timeout)) {
            case .success(let descriptor):
                close(descriptor)
                return nil
            case .failure(let failure): return failure
            }
        }
    }

    private static func offThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }

    /// The address probes go to: a wildcard listen address is reached on the loopback.
    static func probeAddress(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "", "localhost": "127.0.0.1"
        case "::": "::1"
        default: host
        }
    }

    private static func connect(
        host: String, port: Int, deadline: ContinuousClock.Instant
    ) -> Result<
        Int32, ProbeFailure
    > {
        let address = probeAddress(host)
        let isIPv6 = address.contains(":")
        let descriptor = socket(
            isIPv6 ? AF_INET6 : AF_INET,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { return .failure(.system("socket", errno)) }
        var result: Int32
        if isIPv6 {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            guard inet_pton(AF_INET6, address, &socketAddress.sin6_addr) == 1 else {
                close(descriptor)
                return .failure(.badAddress(host))
            }
            result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
                close(descriptor)
                return .failure(.badAddress(host))
            }
            result = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        if result == 0 { return .success(descriptor) }
        guard errno == EINPROGRESS else {
            let code = errno
            close(descriptor)
            return .failure(code == ECONNREFUSED ? .refused : .system("connect", code))
        }
        guard wait(descriptor, for: Int16(POLLOUT), deadline: deadline) else {
            close(descriptor)
            return .failure(.timedOut("connecting"))
        }
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length)
        guard socketError == 0 else {
            close(descriptor)
            return .failure(socketError == ECONNREFUSED ? .refused : .system("connect", socketError))
        }
        return .success(descriptor)
    }

    private static func send(
        _ bytes: [UInt8], on descriptor: Int32, deadline: ContinuousClock.Instant
    )
        -> ProbeFailure?
    {
        var sent = 0
        while sent < bytes.count {
            guard wait(descriptor, for: Int16(POLLOUT), deadline: deadline) else { return .timedOut("sending") }
            let count = bytes.withUnsafeBytes { buffer in
                Glibc.send(descriptor, buffer.baseAddress.map { $0 + sent }, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .system("send", errno)
            }
            sent += count
        }
        return nil
    }

    private static func receiveAll(
        on descriptor: Int32, deadline: ContinuousClock.Instant
    ) -> Result<
        [UInt8], ProbeFailure
    > {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < 1 << 20 {
            guard wait(descriptor, for: Int16(POLLIN), deadline: deadline) else {
                return .failure(.timedOut("waiting for the answer"))
            }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                if errno == ECONNRESET && !received.isEmpty { break }
                return .failure(.system("recv", errno))
            }
            if count == 0 { break }
            received.append(contentsOf: buffer[0..<count])
            if let response = parse(received), isComplete(received, response: response) { break }
        }
        return .success(received)
    }

    /// Whether a response with a `Content-Length` has all its body (servers may keep the connection open).
    private static func isComplete(_ bytes: [UInt8], response: Response) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n") else { return false }
        let headers = text[..<headerEnd.lowerBound].lowercased()
        guard let line = headers.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return text[headerEnd.upperBound...].utf8.count >= length
    }

    /// Waits until the socket is ready or the deadline passes.
    private static func wait(_ descriptor: Int32, for events: Int16, deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            if left <= .zero { return false }
            let milliseconds = Int32(
                clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    /// Parses the status line and body of a raw response.
    static func parse(_ bytes: [UInt8]) -> Response? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let lineEnd = text.range(of: "\r\n") else { return nil }
        let parts = text[..<lineEnd.lowerBound].split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else { return nil }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return Response(status: status, body: body)
    }
}

/// Why a probe could not get an answer.
enum ProbeFailure: Error, Equatable, CustomStringConvertible {
    case refused
    case timedOut(String)
    case badAddress(String)
    case badResponse
    case system(String, Int32)

    var description: String {
        switch self {
        case .refused: "connection refused"
        case .timedOut(let phase): "timed out \(phase)"
        case .badAddress(let host): "cannot probe address \(host)"
        case .badResponse: "not an HTTP response"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}
