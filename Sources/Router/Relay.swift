import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTP1
import Synchronization

/// One request relayed to a llama-server and its answer relayed back, chunk by chunk as it arrives.
///
/// Each upstream chunk is written to the client at once (server-sent events and llama-server's keep-alive pings
/// included). When the client goes away the write fails and the upstream request is cancelled, which closes its
/// connection, so llama-server stops generating. A server that goes silent past the stream idle timeout, or dies
/// mid-answer, ends the client's answer with an error event (for a stream) and a cut connection.
struct Relay {
    let server: RouterServer
    let model: RoutableModel
    let started: ContinuousClock.Instant

    struct Outcome {
        var status: Int
        var timeToFirstByte: Duration?
        var usage: Usage = Usage()
        /// Set when the answer could not be completed: the connection is then cut.
        var error: (any Error)?
    }

    /// Headers that belong to one connection, not to the request.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length",
    ]
    /// The largest answer of known length sent in one write (`run`).
    static let oneWriteLimit = 256 << 10
    /// The router's own credentials are not passed on.
    static let routerCredentials: Set<String> = ["authorization", "x-api-key"]

    func run(_ request: Request, _ writer: consuming ResponseWriter, body: ByteBuffer, path: String) async -> Outcome {
        var upstream = HTTPClientRequest(url: "http://\(model.host):\(model.port)\(path)")
        upstream.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers {
            let name = field.name.canonicalName
            guard !Self.hopByHop.contains(name),
                server.settings.apiKeys.isEmpty || !Self.routerCredentials.contains(name)
            else { continue }
            upstream.headers.add(name: field.name.rawName, value: field.value)
        }
        if body.readableBytes > 0 { upstream.body = .bytes(body) }

        let response: HTTPClientResponse
        do {
            response = try await server.client.execute(upstream, deadline: .distantFuture)
        } catch {
            let failure = RouterError(
                .upstream("llama-server at \(model.host):\(model.port) did not answer: \(error)"), model: model.name)
            try? await writer.write(response: RouterServer.errorHead(failure), body: RouterServer.bytes(failure.body))
            return Outcome(status: failure.status)
        }

        var head = HTTPResponse(status: .init(code: Int(response.status.code)))
        for (name, value) in response.headers where !Self.hopByHop.contains(name.lowercased()) {
            if let fieldName = HTTPField.Name(name) {
                head.headerFields.append(HTTPField(name: fieldName, value: value))
            }
        }
        let isEventStream = response.headers.first(name: "content-type")?.hasPrefix("text/event-stream") ?? false
        if isEventStream {
            head.headerFields[HTTPField.Name("X-Accel-Buffering")!] = "no"
            head.headerFields[.cacheControl] = "no-cache"
        }
        var outcome = Outcome(status: Int(response.status.code))
        // A small answer whose length is known (not a stream: it was whole before its head was sent) goes out in one
        // write with its head: a third of the router's cost per small request was its writes and their task group.
        if !isEventStream, let length = response.headers.first(name: "content-length").flatMap({ Int($0) }),
            length <= Self.oneWriteLimit
        {
            do {
                let bytes = try await response.body.collect(upTo: length)
                outcome.timeToFirstByte = .now - started
                outcome.usage.scan(bytes)
                outcome.usage.parse()
                head.headerFields[.contentLength] = String(bytes.readableBytes)
                try await writer.write(response: head, body: ResponseBody(byteBuffer: bytes))
            } catch {
                outcome.error = error
            }
            return outcome
        }
        let bodyWriter: any ResponseBodyWriter
        do {
            bodyWriter = try await writer.writeHead(head)
        } catch {
            outcome.error = error
            return outcome
        }
        // Only the copy task writes to the client until it ends; then this task finishes the answer.
        nonisolated(unsafe) var clientWriter = bodyWriter
        let lastByte = LastByte()
        let idleTimeout = server.settings.streamIdleTimeout
        let started = started
        do {
            let copied = try await withThrowingTaskGroup(of: Copied?.self) { group in
                group.addTask {
                    var copied = Copied()
                    for try await chunk in response.body {
                        if copied.timeToFirstByte == nil { copied.timeToFirstByte = .now - started }
                        lastByte.touch()
                        copied.usage.scan(chunk)
                        try await clientWriter.write(chunk)
                    }
                    copied.usage.parse()
                    return copied
                }
                if let idleTimeout {
                    group.addTask {
                        while true {
                            let last = lastByte.time
                            if ContinuousClock.now - last >= idleTimeout { throw IdleTimeout(limit: idleTimeout) }
                            try await Task.sleep(until: last + idleTimeout, clock: .continuous)
                        }
                    }
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let result { return result }
                }
                return Copied()
            }
            outcome.timeToFirstByte = copied.timeToFirstByte
            outcome.usage = copied.usage
            try await clientWriter.finish(nil)
        } catch {
            outcome.error = error
            if isEventStream {
                // The client may still be there (the server failed): say why before the connection is cut.
                let failure = RouterError(.upstream("the answer broke off: \(error)"), model: model.name)
                var event = ByteBuffer(string: "data: ")
                event.writeBytes(failure.body)
                event.writeString("\n\n")
                try? await clientWriter.write(event)
            }
        }
        return outcome
    }

    struct Copied: Sendable {
        var timeToFirstByte: Duration?
        var usage = Usage()
    }

    struct IdleTimeout: Error, CustomStringConvertible {
        var limit: Duration
        var description: String {
            "no byte from llama-server for \(limit.components.seconds) s (router.stream_idle_timeout)"
        }
    }
}

/// Token counts from the end of an answer: OpenAI's `usage` (`prompt_tokens`, `completion_tokens`) or
/// llama-server's `timings` (`prompt_n`, `predicted_n`). Only the last few KiB are kept.
struct Usage: Sendable {
    var prompt: Int?
    var completion: Int?
    private var tail: [UInt8] = []

    static let kept = 8192

    /// Keeps the end of the answer.
    mutating func scan(_ chunk: ByteBuffer) {
        chunk.withUnsafeReadableBytes { bytes in
            if bytes.count >= Self.kept {
                tail = Array(bytes.suffix(Self.kept))
            } else {
                tail.append(contentsOf: bytes)
                if tail.count > 2 * Self.kept { tail.removeFirst(tail.count - Self.kept) }
            }
        }
    }

    /// Reads the counts from the end kept.
    mutating func parse() {
        if let value = Self.lastInteger(after: #""prompt_tokens":"#, in: tail)
            ?? Self.lastInteger(after: #""prompt_n":"#, in: tail)
        {
            prompt = value
        }
        if let value = Self.lastInteger(after: #""completion_tokens":"#, in: tail)
            ?? Self.lastInteger(after: #""predicted_n":"#, in: tail)
        {
            completion = value
        }
    }

    /// The integer after the last `key` in `bytes`. On bytes, not `String.range(of:)`: Foundation's search was 6 %
    /// of the daemon's time under load (`bench/router`).
    static func lastInteger(after key: String, in bytes: [UInt8]) -> Int? {
        let key = Array(key.utf8)
        guard bytes.count >= key.count else { return nil }
        var start = bytes.count - key.count
        while start >= 0 {
            if bytes[start] == key[0] && bytes[start..<start + key.count].elementsEqual(key) {
                var index = start + key.count
                while index < bytes.count && bytes[index] == UInt8(ascii: " ") { index += 1 }
                var value = 0
                var digits = 0
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9"),
                    digits < 18
                {
                    value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                    digits += 1
                    index += 1
                }
                return digits > 0 ? value : nil
            }
            start -= 1
        }
        return nil
    }
}

/// When the last byte came from the server, for the idle watchdog.
final class LastByte: Sendable {
    private let value = Mutex(ContinuousClock.now)

    func touch() {
        value.withLock { $0 = .now }
    }

    var time: ContinuousClock.Instant { value.withLock { $0 } }
}
