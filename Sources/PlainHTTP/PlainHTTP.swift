import CPlainHTTP
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP/1.1 exchange (`Connection: close`) over a blocking socket with a deadline: a TCP port or a unix
/// socket. What the CLI's control client needs, without an event loop or a TLS stack: a command that asks the
/// daemon one question starts no threads and answers in a few milliseconds.
///
/// Every call blocks the calling thread until the answer or the deadline, never longer.
public enum PlainHTTP {
    /// Where a request goes.
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        /// A TCP port; a wildcard or `localhost` host is reached on the loopback.
        case tcp(host: String, port: Int)
        /// A unix domain socket's path.
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): "\(host):\(port)"
            case .unix(let path): path
            }
        }
    }

    /// A response: status code, header fields (names lowercased) and the whole body.
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]

        public init(status: Int, headers: [String: String] = [:], body: [UInt8] = []) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        /// The body as UTF-8 text.
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// The largest response read; a longer one is cut there.
    public static let maxResponse = 64 << 20

    /// Sends one request and reads the whole response (by `Content-Length`, chunked, or until the peer closes).
    ///
    /// - Parameters:
    ///   - headers: extra header fields; `Host`, `Connection: close` and, with a body, `Content-Length` are added.
    ///   - timeout: for the whole exchange, connect included.
    public static func exchange(
        _ endpoint: Endpoint, method: String, path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration
    ) -> Result<Response, PlainHTTPFailure> {
        let exchange = Exchange(endpoint, method: method, path: path, headers: headers, body: body, timeout: timeout)
        return exchange.run()
    }

    /// One exchange, step by step: connect, send, receive, each waiting on the socket until the deadline.
    final class Exchange {
        private enum Phase {
            case start, connecting, sending, receiving
            case done(Result<Response, PlainHTTPFailure>)
        }

        private let endpoint: Endpoint
        private let request: [UInt8]
        /// Ends once connected, without a request (`init(connectingTo:timeout:)`).
        private let connectOnly: Bool
        private let deadline: ContinuousClock.Instant
        private var phase = Phase.start
        private var descriptor: Int32 = -1
        private var sent = 0
        private var received: [UInt8] = []

        /// Prepares the request; nothing is sent before the first `run`. `timeout` counts from now.
        init(
            _ endpoint: Endpoint, method: String, path: String, headers: [(String, String)] = [],
            body: [UInt8]? = nil, timeout: Duration
        ) {
            self.endpoint = endpoint
            deadline = ContinuousClock.now.advanced(by: timeout)
            let host: String =
                switch endpoint {
                case .tcp(let host, let port): "\(host):\(port)"
                case .unix: "localhost"
                }
            var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            if let body { head += "Content-Length: \(body.count)\r\n" }
            head += "\r\n"
            request = Array(head.utf8) + (body ?? [])
            connectOnly = false
        }

        /// An exchange that only connects: it ends, with an empty response of status 0, as soon as something
        /// accepts the connection (which it then closes). `timeout` counts from now.
        init(connectingTo endpoint: Endpoint, timeout: Duration) {
            self.endpoint = endpoint
            deadline = ContinuousClock.now.advanced(by: timeout)
            request = []
            connectOnly = true
        }

        deinit {
            if descriptor >= 0 { close(descriptor) }
        }

        /// Goes on with the exchange until it ends: an answer, a failure, or its deadline (`.timedOut`).
        func run() -> Result<Response, PlainHTTPFailure> {
            while true {
                switch phase {
                case .done(let outcome):
                    return outcome
                case .start:
                    switch PlainHTTP.startConnect(endpoint) {
                    case .failure(.busy):
                        // A daemon busy accepting: again in a millisecond, until the deadline.
                        guard ContinuousClock.now < deadline else {
                            finish(.failure(.timedOut("connecting")))
                            continue
                        }
                        usleep(1000)
                    case .failure(let failure): finish(.failure(failure))
                    case .success(let (socket, connected)):
                        descriptor = socket
                        phase = connected ? .sending : .connecting
                        if connected && connectOnly { finish(.success(Response(status: 0))) }
                    }
                case .connecting:
                    guard PlainHTTP.wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                        finish(.failure(.timedOut("connecting")))
                        continue
                    }
                    var socketError: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &socketError, &length)
                    if socketError != 0 {
                        finish(.failure(PlainHTTP.failure(connecting: socketError)))
                    } else if connectOnly {
                        finish(.success(Response(status: 0)))
                    } else {
                        phase = .sending
                    }
                case .sending:
                    let count = request.withUnsafeBytes { buffer in
                        systemSend(descriptor, buffer.baseAddress.map { $0 + sent }, request.count - sent, noSignal)
                    }
                    if count < 0 {
                        if errno == EINTR { continue }
                        guard errno == EAGAIN else {
                            finish(.failure(.system("send", errno)))
                            continue
                        }
                        guard PlainHTTP.wait(descriptor, for: Int16(POLLOUT), until: deadline) else {
                            finish(.failure(.timedOut("sending")))
                            continue
                        }
                        continue
                    }
                    sent += count
                    if sent == request.count { phase = .receiving }
                case .receiving:
                    guard PlainHTTP.wait(descriptor, for: Int16(POLLIN), until: deadline) else {
                        finish(.failure(.timedOut("waiting for the answer")))
                        continue
                    }
                    receive()
                }
            }
        }

        /// Reads what is there; ends the exchange on a whole response, the peer's close or an error.
        private func receive() {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 {
                    if errno == EINTR { continue }
                    if errno == EAGAIN { return }
                    if errno == ECONNRESET && !received.isEmpty { break }
                    finish(.failure(.system("recv", errno)))
                    return
                }
                if count == 0 || received.count + count >= PlainHTTP.maxResponse {
                    received.append(contentsOf: buffer[0..<count])
                    break
                }
                received.append(contentsOf: buffer[0..<count])
                if case .complete(let response) = PlainHTTP.parse(received) {
                    finish(.success(response))
                    return
                }
            }
            // The peer closed (or the limit was reached): whatever arrived is the answer.
            switch PlainHTTP.parse(received, closed: true) {
            case .complete(let response): finish(.success(response))
            case .incomplete, .invalid: finish(.failure(received.isEmpty ? .closed : .badResponse))
            }
        }

        private func finish(_ outcome: Result<Response, PlainHTTPFailure>) {
            if descriptor >= 0 {
                close(descriptor)
                descriptor = -1
            }
            phase = .done(outcome)
        }
    }

    /// Opens a connection and closes it again: whether something accepts on `endpoint`.
    public static func connectOnly(_ endpoint: Endpoint, timeout: Duration) -> PlainHTTPFailure? {
        switch Exchange(connectingTo: endpoint, timeout: timeout).run() {
        case .failure(let failure): failure
        case .success: nil
        }
    }

    /// The address a probe of `host` goes to: a wildcard listen address is reached on the loopback.
    public static func loopbackAddress(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "", "localhost": "127.0.0.1"
        case "::": "::1"
        default: host
        }
    }

    // MARK: Connecting

    /// The longest path a unix socket address holds (`sun_path` is 108 bytes with the terminating zero).
    public static let unixPathLimit = 107

    /// `path` itself when a unix socket address can hold it; for a longer one, the same socket reached through
    /// its folder's descriptor (`/proc/self/fd/N/name`), which binds and connects the same. The folder stays
    /// open for the life of the process, one descriptor per folder. `path` itself when its folder can't be
    /// opened (the bind or connect then fails with the error to report).
    public static func reachableUnixPath(_ path: String) -> String {
        guard path.utf8.count > unixPathLimit, let slash = path.lastIndex(of: "/") else { return path }
        let folder = String(path[..<slash])
        let name = path[path.index(after: slash)...]
        return folders.withLock { table in
            if let descriptor = table[folder] { return "/proc/self/fd/\(descriptor)/\(name)" }
            let descriptor = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard descriptor >= 0 else { return path }
            table[folder] = descriptor
            return "/proc/self/fd/\(descriptor)/\(name)"
        }
    }

    private static let folders = Mutex<[String: Int32]>([:])

    /// A non-blocking, close-on-exec socket with its connect started, and whether the connect is done already.
    static func startConnect(_ endpoint: Endpoint) -> Result<(Int32, Bool), PlainHTTPFailure> {
        switch endpoint {
        case .tcp(let host, let port):
            let address = loopbackAddress(host)
            if address.contains(":") {
                var socketAddress = sockaddr_in6()
                socketAddress.sin6_family = sa_family_t(AF_INET6)
                socketAddress.sin6_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
                guard inet_pton(AF_INET6, address, &socketAddress.sin6_addr) == 1 else {
                    return .failure(.badAddress(host))
                }
                return startConnect(family: AF_INET6, to: &socketAddress)
            }
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
            guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else { return .failure(.badAddress(host)) }
            return startConnect(family: AF_INET, to: &socketAddress)
        case .unix(let path):
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(reachableUnixPath(path).utf8CString)
            guard bytes.count <= MemoryLayout.size(ofValue: socketAddress.sun_path) else {
                // Still too long: its folder could not be opened, and that is why no socket can be reached.
                let folder = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
                let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard descriptor < 0 else {
                    close(descriptor)
                    return .failure(.badAddress(path))
                }
                return .failure(errno == ENOENT || errno == ENOTDIR ? .noSocket : .system("open \(folder)", errno))
            }
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { buffer in
                bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
            }
            return startConnect(family: AF_UNIX, to: &socketAddress)
        }
    }

    private static func startConnect<Address>(
        family: Int32, to address: inout Address
    ) -> Result<
        (Int32, Bool), PlainHTTPFailure
    > {
        #if canImport(Glibc)
            let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        #else
            let kind = SOCK_STREAM
        #endif
        let descriptor = socket(family, kind, 0)
        guard descriptor >= 0 else { return .failure(.system("socket", errno)) }
        let size = socklen_t(MemoryLayout<Address>.size)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemConnect(descriptor, $0, size) }
        }
        if result == 0 { return .success((descriptor, true)) }
        let code = errno
        // A TCP connect in progress says EINPROGRESS. A unix socket whose backlog is full says EAGAIN, and that
        // connection was not queued (it would fail at the first send): the caller tries again.
        guard code == EINPROGRESS else {
            close(descriptor)
            return .failure(code == EAGAIN && family == AF_UNIX ? .busy : failure(connecting: code))
        }
        return .success((descriptor, false))
    }

    private static func failure(connecting code: Int32) -> PlainHTTPFailure {
        switch code {
        case ECONNREFUSED: .refused
        case ENOENT: .noSocket
        default: .system("connect", code)
        }
    }

    /// Waits until the socket is ready or `stop` passes.
    static func wait(_ descriptor: Int32, for events: Int16, until stop: ContinuousClock.Instant) -> Bool {
        while true {
            let left = ContinuousClock.now.duration(to: stop)
            if left <= .zero {
                // Past the time: one look without waiting, so a ready answer is never missed.
                var entry = pollfd(fd: descriptor, events: events, revents: 0)
                return poll(&entry, 1, 0) > 0
            }
            // At most an hour per wait (the loop waits again): a far deadline must not overflow the nanoseconds.
            let seconds = min(left.components.seconds, 3600)
            let nanoseconds = seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000
            let ready = cplainhttp_wait(descriptor, events, max(nanoseconds, 1))
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    // MARK: Parsing

    /// What the bytes received so far make.
    enum Parsed: Equatable {
        case complete(Response)
        case incomplete
        case invalid
    }

    /// Parses a raw response. With `closed`, the peer has closed: a body without a length ends here.
    static func parse(_ bytes: [UInt8], closed: Bool = false) -> Parsed {
        guard let headerEnd = find([13, 10, 13, 10], in: bytes, from: 0) else {
            return closed && !bytes.isEmpty ? .invalid : .incomplete
        }
        // Byte by byte: a probe parses a response every few seconds for every instance.
        var status: Int?
        var headers: [String: String] = [:]
        var start = 0
        while start <= headerEnd {
            var end = start
            while end < headerEnd && !(bytes[end] == 13 && bytes[end + 1] == 10) { end += 1 }
            if status == nil {
                guard let code = statusCode(bytes[start..<end]) else { return .invalid }
                status = code
            } else if let colon = bytes[start..<end].firstIndex(of: UInt8(ascii: ":")) {
                var valueStart = colon + 1
                var valueEnd = end
                while valueStart < valueEnd && (bytes[valueStart] == 32 || bytes[valueStart] == 9) { valueStart += 1 }
                while valueEnd > valueStart && (bytes[valueEnd - 1] == 32 || bytes[valueEnd - 1] == 9) { valueEnd -= 1 }
                headers[String(decoding: bytes[start..<colon], as: UTF8.self).lowercased()] = String(
                    decoding: bytes[valueStart..<valueEnd], as: UTF8.self)
            }
            start = end + 2
        }
        guard let status else { return .invalid }
        let bodyStart = headerEnd + 4
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            switch dechunk(bytes, from: bodyStart) {
            case .some(let body): return .complete(Response(status: status, headers: headers, body: body))
            case .none: return closed ? .invalid : .incomplete
            }
        }
        if let lengthText = headers["content-length"] {
            guard let length = Int(lengthText), length >= 0 else { return .invalid }
            guard bytes.count - bodyStart >= length else { return closed ? .invalid : .incomplete }
            return .complete(
                Response(status: status, headers: headers, body: Array(bytes[bodyStart..<bodyStart + length])))
        }
        // No length: the body runs until the peer closes (or there is none).
        if closed || status == 204 || status == 304 || (100..<200).contains(status) {
            return .complete(Response(status: status, headers: headers, body: Array(bytes[bodyStart...])))
        }
        return .incomplete
    }

    /// The code of a status line (`HTTP/1.1 200 OK`), or `nil` when it isn't one.
    private static func statusCode(_ line: ArraySlice<UInt8>) -> Int? {
        guard line.starts(with: "HTTP/".utf8), let space = line.firstIndex(of: 32) else { return nil }
        let digits = line[(space + 1)...].prefix { $0 != 32 }
        guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// The body of a chunked response, or `nil` until its last chunk has arrived.
    private static func dechunk(_ bytes: [UInt8], from start: Int) -> [UInt8]? {
        var body: [UInt8] = []
        var position = start
        while true {
            guard let lineEnd = find([13, 10], in: bytes, from: position) else { return nil }
            let sizeText = String(decoding: bytes[position..<lineEnd], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size >= 0 else { return nil }
            let dataStart = lineEnd + 2
            if size == 0 { return body }
            // Compared without adding: a hostile size near Int.max must not overflow.
            guard size <= bytes.count - dataStart, bytes.count - dataStart - size >= 2 else { return nil }
            body += bytes[dataStart..<dataStart + size]
            position = dataStart + size + 2
        }
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var index = start
        while index <= bytes.count - needle.count {
            if bytes[index] == needle[0] && Array(bytes[index..<index + needle.count]) == needle { return index }
            index += 1
        }
        return nil
    }
}

/// Why an exchange got no answer.
public enum PlainHTTPFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case refused
    /// A unix socket's path does not exist.
    case noSocket
    case timedOut(String)
    /// A unix socket's backlog is full (the exchange tries again until its deadline).
    case busy
    case badAddress(String)
    /// The peer closed without answering.
    case closed
    case badResponse
    case system(String, Int32)

    public var description: String {
        switch self {
        case .refused: "connection refused"
        case .noSocket: "no such socket"
        case .busy: "the socket's backlog is full"
        case .timedOut(let phase): "timed out \(phase)"
        case .badAddress(let host): "cannot connect to address \(host)"
        case .closed: "closed without an answer"
        case .badResponse: "not an HTTP response"
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}

#if canImport(Glibc)
    private let systemConnect = Glibc.connect
    private let systemSend = Glibc.send
    private let noSignal = Int32(MSG_NOSIGNAL)
#else
    private let systemConnect = Darwin.connect
    private let systemSend = Darwin.send
    private let noSignal: Int32 = 0
#endif
