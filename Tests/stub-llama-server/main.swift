// Test helper: a stand-in for llama.cpp's llama-server, with the HTTP surface the supervisor probes and the
// failures it must survive. Plain POSIX sockets, one thread per connection.
//
// Usage: stub-llama-server --port N [--host ADDR] [--load-time S] [--health-delay S] [--hang-completion]
//        [--crash-after S] [--hang-after S] [--ignore-sigterm] [--fork-grandchild] [--log-interval S]
//        [--tokens N] [--token-rate R] [--crash-mid-stream N] [--hang-completion-while PATH] [--drop-reused]
//        [--event-padding N]
// The OpenAI-style endpoints answer with what they received (byte count and FNV-1a hash of the body) and, for
// `"stream": true`, N server-sent events at R per second (0: at once); every request and every stream that
// ends early is logged with the time, for the router's tests. `--event-padding N` adds N bytes to each event.
// `--drop-reused`: a plain OpenAI-style answer keeps its connection open, and the next request on that connection
// is read and dropped unanswered (the connection closed), as a server closing an idle kept-alive connection just as
// a proxy reuses it; logged as "dropped a request on a reused connection".
// `--hang-completion-while PATH`: completions hang while PATH exists (`/health` keeps answering), so a test
// chooses the moment a healthy server wedges, and when it recovers.
// Unknown flags (llama-server's own, such as `-m model.gguf`) are ignored. Times are seconds (fractions allowed).
// `--version` and `--help` print what a current llama-server prints about the flags the planner looks for, so
// the planner can detect the stub's capabilities as it does a real binary's.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct Options: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    var loadTime = 0.0
    var healthDelay = 0.0
    var hangCompletion = false
    var hangCompletionWhile: String?
    var crashAfter: Double?
    var hangAfter: Double?
    var ignoreSigterm = false
    var forkGrandchild = false
    var logInterval: Double?
    var grandchild = false
    var tokens = 8
    var tokenRate = 0.0
    var eventPadding = 0
    var crashMidStream: Int?
    var dropReused = false

    init(_ arguments: [String]) {
        var index = 0
        func value() -> String {
            index += 1
            return index < arguments.count ? arguments[index] : ""
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--port": port = Int(value()) ?? port
            case "--host": host = value()
            case "--load-time": loadTime = Double(value()) ?? 0
            case "--health-delay": healthDelay = Double(value()) ?? 0
            case "--hang-completion": hangCompletion = true
            case "--hang-completion-while": hangCompletionWhile = value()
            case "--crash-after": crashAfter = Double(value())
            case "--hang-after": hangAfter = Double(value())
            case "--ignore-sigterm": ignoreSigterm = true
            case "--fork-grandchild": forkGrandchild = true
            case "--log-interval": logInterval = Double(value())
            case "--grandchild": grandchild = true
            case "--tokens": tokens = Int(value()) ?? tokens
            case "--event-padding": eventPadding = Int(value()) ?? 0
            case "--token-rate": tokenRate = Double(value()) ?? 0
            case "--crash-mid-stream": crashMidStream = Int(value())
            case "--drop-reused": dropReused = true
            default:
                // An unknown flag with a value (`-m model.gguf`): skip the value too.
                if index + 1 < arguments.count, !arguments[index + 1].hasPrefix("-") { index += 1 }
            }
            index += 1
        }
    }
}

enum Stub {
    static let options = Options(Array(CommandLine.arguments.dropFirst()))
    static let started = ContinuousClock.now

    static func elapsed() -> Double {
        let duration = ContinuousClock.now - started
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func say(_ text: String, to descriptor: Int32 = 2) {
        let line = Array((text + "\n").utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    static func pause(_ seconds: Double) {
        usleep(UInt32(max(0, min(seconds, 4000)) * 1_000_000))
    }

    static func hangForever() -> Never {
        while true { pause(3600) }
    }

    /// Whether a completion request hangs now: always with `--hang-completion`, or while the file exists.
    static func completionsHang() -> Bool {
        options.hangCompletion || options.hangCompletionWhile.map { access($0, F_OK) == 0 } ?? false
    }

    static func isHung() -> Bool {
        options.hangAfter.map { elapsed() >= $0 } ?? false
    }

    static func respond(
        _ connection: Int32, status: Int, _ body: String, contentType: String = "application/json",
        keepAlive: Bool = false
    ) {
        let reason = [200: "OK", 404: "Not Found", 503: "Service Unavailable"][status] ?? "Error"
        let text =
            "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n"
            + (keepAlive ? "" : "Connection: close\r\n") + "\r\n\(body)"
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    static func handle(_ connection: Int32) {
        defer { close(connection) }
        var reused = false
        while serve(connection, reused: reused) { reused = true }
    }

    /// Answers one request; `true` when the connection stays open for another (`--drop-reused`).
    static func serve(_ connection: Int32, reused: Bool) -> Bool {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        while headerEnd == nil {
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return false }
            received.append(contentsOf: buffer[0..<count])
            headerEnd = Stub.find([13, 10, 13, 10], in: received)
        }
        if isHung() { hangForever() }
        let head = String(decoding: received[0..<headerEnd!], as: UTF8.self)
        let requestLine = head.split(separator: "\r\n").first ?? ""
        let parts = requestLine.split(separator: " ")
        let method = parts.first.map(String.init) ?? ""
        let target = parts.count > 1 ? String(parts[1]) : ""
        let path = String(target.prefix { $0 != "?" })
        // The body, as Content-Length says.
        var length = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        var body = Array(received[(headerEnd! + 4)...])
        while body.count < length {
            let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return false }
            body.append(contentsOf: buffer[0..<count])
        }
        if reused {
            say("stub-llama-server: dropped a request on a reused connection at \(epochMilliseconds())")
            return false
        }
        say("stub-llama-server: request \(method) \(target) \(body.count) bytes at \(epochMilliseconds())")
        if head.lowercased().contains("\r\nexpect:") { say("stub-llama-server: the request has an Expect header") }
        let loading = elapsed() < options.loadTime
        let loadingError = #"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#
        switch (method, path) {
        case ("GET", "/health"):
            pause(options.healthDelay)
            if loading {
                respond(connection, status: 503, loadingError)
            } else {
                respond(connection, status: 200, #"{"status":"ok"}"#)
            }
        case ("POST", "/completion") where !isStream(body):
            if loading {
                respond(connection, status: 503, loadingError)
            } else if completionsHang() {
                hangForever()
            } else {
                respond(connection, status: 200, #"{"content":" b","stop":true,"tokens_predicted":1}"#)
            }
        case ("GET", "/metrics"):
            respond(
                connection, status: 200,
                "# HELP llamacpp:requests_processing Number of requests processing.\n"
                    + "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 0\n",
                contentType: "text/plain; version=0.0.4")
        case ("POST", _) where openAIPaths.contains(path):
            if loading {
                respond(connection, status: 503, loadingError)
            } else if completionsHang() {
                hangForever()
            } else if isStream(body) {
                stream(connection)
            } else {
                respond(
                    connection, status: 200,
                    #"{"object":"chat.completion","received_bytes":\#(body.count),"received_hash":"\#(fnv1a(body))","#
                        + #""choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"#
                        + #""usage":{"prompt_tokens":\#(max(1, body.count / 4)),"completion_tokens":1}}"#,
                    keepAlive: options.dropReused)
                return options.dropReused
            }
        default:
            respond(
                connection, status: 404, #"{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}"#)
        }
        return false
    }

    static let openAIPaths: Set<String> = [
        "/v1/chat/completions", "/v1/completions", "/completion", "/completions", "/v1/embeddings", "/embeddings",
        "/tokenize", "/detokenize", "/v1/messages", "/v1/responses", "/infill", "/apply-template", "/rerank",
    ]

    static func isStream(_ body: [UInt8]) -> Bool {
        let text = String(decoding: body.prefix(4096), as: UTF8.self).replacingOccurrences(of: " ", with: "")
        return text.contains(#""stream":true"#)
    }

    /// Server-sent events, one write per event, chunked; stops when the client goes away and says when.
    static func stream(_ connection: Int32) {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        guard sendAll(connection, Array(head.utf8)) else { return }
        let interval = options.tokenRate > 0 ? 1 / options.tokenRate : 0
        let padding = String(repeating: "x", count: options.eventPadding)
        // The first token comes one interval after the head, as a real server's does after its prompt: the router
        // benchmark counts the writes that carry events, and a head and an event written back to back may be read,
        // and so relayed, as one.
        if interval > 0 { usleep(UInt32(interval * 1_000_000)) }
        for index in 0..<options.tokens {
            if let crash = options.crashMidStream, index == crash {
                say("stub-llama-server: crashing mid-stream after \(index) events")
                _exit(3)
            }
            let event =
                #"data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"t\#(index) \#(padding)"}}]}"#
            guard sendChunk(connection, event + "\n\n") else {
                say("stub-llama-server: stream closed by the client after \(index) events at \(epochMilliseconds())")
                return
            }
            // Waits for the next event while watching for the client leaving, asleep in `poll` (the router benchmark
            // runs 64 streams beside the router: a thread each waking every few milliseconds took CPU from it).
            if clientLeft(connection, within: interval) {
                let now = epochMilliseconds()
                say("stub-llama-server: stream closed by the client after \(index + 1) events at \(now)")
                return
            }
        }
        let usage =
            #"data: {"object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":\#(options.tokens)}}"#
        _ = sendChunk(connection, usage + "\n\n")
        _ = sendChunk(connection, "data: [DONE]\n\n")
        _ = sendAll(connection, Array("0\r\n\r\n".utf8))
        say("stub-llama-server: stream done after \(options.tokens) events at \(epochMilliseconds())")
    }

    /// Whether the client closed its side within `seconds` (a closed socket reads as 0 bytes); returns when it does,
    /// or after `seconds`.
    static func clientLeft(_ connection: Int32, within seconds: Double) -> Bool {
        let deadline = ContinuousClock.now + .microseconds(Int64(seconds * 1_000_000))
        var probe: UInt8 = 0
        // Closed: reads as 0 bytes, or fails with anything but "nothing yet" (a reset).
        func closed() -> Bool {
            let count = recv(connection, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        }
        #if os(Linux)
            let hangUp = Int16(0x2000)  // POLLRDHUP: the peer shut its side down (POLLHUP and POLLERR come anyway)
        #else
            let hangUp = Int16(0)
        #endif
        while true {
            if closed() { return true }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            var watch = pollfd(fd: connection, events: hangUp, revents: 0)
            let milliseconds = Int32(min(left / .milliseconds(1), 60_000).rounded(.up))
            if poll(&watch, 1, max(1, milliseconds)) <= 0 { continue }
            if closed() { return true }
            // Woken but not closed (bytes the client sent): the rest is waited out without watching.
            let rest = deadline - ContinuousClock.now
            if rest > .zero { usleep(UInt32(min(rest / .microseconds(1), 60_000_000))) }
            return false
        }
    }

    static func sendChunk(_ connection: Int32, _ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return sendAll(connection, Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + [13, 10])
    }

    static func sendAll(_ connection: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if Array(haystack[index..<index + needle.count]) == needle { return index }
        }
        return nil
    }

    /// FNV-1a, 64 bits, as hex: enough to tell that a body arrived intact.
    static func fnv1a(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
        }
        return String(hash, radix: 16)
    }

    static func epochMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    static let helpText = """
        ----- common params -----
        -h,    --help, --usage                  print usage and exit
        --version                               show version and build info
        -t,    --threads N                      number of threads
        -c,    --ctx-size N                     size of the prompt context
        -b,    --batch-size N                   logical maximum batch size
        -fa,   --flash-attn [on|off|auto]       set Flash Attention use ('on', 'off', or 'auto', default: 'auto')
        --device <dev1,dev2,..>                 comma-separated list of devices to use for offloading (none = don't offload)
        -ngl,  --gpu-layers, --n-gpu-layers N   max. number of layers to store in VRAM, either an exact number, 'auto', or 'all'
        -np,   --parallel N                     number of server slots
        --kv-unified                            use a single unified KV buffer
        -lv,   --verbosity, --log-verbosity N   set the verbosity threshold
        --fit [on|off]                          whether to adjust unset arguments to fit in device memory
        --alias STRING                          set alias for model name
        --host HOST                             ip address to listen
        --port PORT                             port to listen (default: 8080)
        """

    static func main() -> Never {
        if CommandLine.arguments.contains("--version") {
            say("version: 0 (stub)\nbuilt with stub-llama-server")
            exit(0)
        }
        if CommandLine.arguments.contains("--help") {
            say(helpText, to: 1)
            exit(0)
        }
        // `started` is lazy: fix it now, before anything asks how long the server has been up.
        _ = started
        if options.grandchild {
            // A helper the server forked: it stays in the server's process group and shrugs off SIGTERM.
            signal(SIGTERM, SIG_IGN)
            hangForever()
        }
        if options.ignoreSigterm { signal(SIGTERM, SIG_IGN) }
        signal(SIGPIPE, SIG_IGN)

        // Bind before "loading", as llama-server does. The socket is inherited by a forked grandchild on purpose: an
        // orphaned helper then holds the port, the failure the supervisor must prevent.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: options.port).bigEndian)
        inet_pton(AF_INET, options.host == "0.0.0.0" ? "0.0.0.0" : "127.0.0.1", &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            say(
                "stub-llama-server: couldn't bind to server socket: port \(options.port): \(String(cString: strerror(errno)))"
            )
            exit(1)
        }
        say("stub-llama-server: listening on \(options.host):\(options.port), pid \(getpid())")

        if options.forkGrandchild {
            var pid: pid_t = 0
            let path = CommandLine.arguments[0]
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("--grandchild"), nil]
            let result = posix_spawn(&pid, path, nil, nil, argv, environ)
            say("stub-llama-server: forked grandchild \(pid) (result \(result))")
        }

        if let crashAfter = options.crashAfter {
            Thread.detachNewThread {
                pause(crashAfter)
                say("stub-llama-server: crashing as asked")
                _exit(3)
            }
        }

        if let interval = options.logInterval {
            Thread.detachNewThread {
                var count = 0
                while true {
                    count += 1
                    say("stdout line \(count): " + String(repeating: "x", count: 60), to: 1)
                    say("stderr line \(count): " + String(repeating: "y", count: 60), to: 2)
                    pause(interval)
                }
            }
        }

        while true {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                say("stub-llama-server: accept failed: \(String(cString: strerror(errno)))")
                exit(1)
            }
            if isHung() {
                // Stops answering: keeps the connection open and never reads it.
                continue
            }
            Thread.detachNewThread { handle(connection) }
        }

    }
}

Stub.main()
