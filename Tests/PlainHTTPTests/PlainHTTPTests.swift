import Foundation
import TestSupport
import Testing

@testable import PlainHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// The response parser on hand-written bytes, and whole exchanges with a real listening socket.
@Suite struct PlainHTTPTests {
    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func aUnixPathTooLongForAnAddressIsReachedThroughItsFolder() throws {
        #expect(PlainHTTP.reachableUnixPath("/tmp/short.sock") == "/tmp/short.sock")
        let folder = NSTemporaryDirectory() + String(repeating: "long-folder-name-", count: 7)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let reached = PlainHTTP.reachableUnixPath(folder + "/daemon.sock")
        #expect(reached.hasPrefix("/proc/self/fd/") && reached.hasSuffix("/daemon.sock"), "\(reached)")
        #expect(reached.utf8.count <= PlainHTTP.unixPathLimit)
        // The same folder: the same descriptor.
        #expect(
            PlainHTTP.reachableUnixPath(folder + "/other.sock")
                == reached.replacingOccurrences(of: "daemon", with: "other"))
        // A folder that doesn't exist: the path as it is, and no socket there (as for a short path).
        let missing = folder + "/missing/daemon.sock"
        #expect(PlainHTTP.reachableUnixPath(missing) == missing)
        #expect(
            PlainHTTP.exchange(.unix(path: missing), method: "GET", path: "/", timeout: .seconds(1))
                == .failure(.noSocket))
        // A file where the folder should be: the same.
        let notAFolder = folder + "/" + String(repeating: "f", count: 20)
        try Data().write(to: URL(fileURLWithPath: notAFolder))
        #expect(
            PlainHTTP.exchange(.unix(path: notAFolder + "/daemon.sock"), method: "GET", path: "/", timeout: .seconds(1))
                == .failure(.noSocket))
    }

    @Test func aChunkSizeNearTheLargestIntegerIsNotAnAnswerAndNoCrash() {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for size in ["7fffffffffffffff", "7ffffffffffffffe", "ffffffffffffffff0"] {
            #expect(PlainHTTP.parse(bytes(head + size + "\r\nab\r\n"), closed: false) == .incomplete, "\(size)")
        }
        #expect(
            PlainHTTP.parse(bytes(head + "2\r\nab\r\n0\r\n\r\n"), closed: false)
                == .complete(.init(status: 200, headers: ["transfer-encoding": "chunked"], body: Array("ab".utf8))))
    }

    @Test func aUnixSocketWithAFullBacklogIsTriedAgainUntilTheDeadline() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/busy.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            Array(path.utf8CString).withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let size = socklen_t(MemoryLayout<sockaddr_un>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) == 0 }
        }
        try #require(bound && listen(listener, 0) == 0)
        // Fill the backlog (nothing accepts) until a connect is refused with EAGAIN.
        var queued: [Int32] = []
        defer { queued.forEach { close($0) } }
        var full = false
        for _ in 0..<64 where !full {
            let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, size) }
            }
            if result != 0 && errno == EAGAIN {
                close(client)
                full = true
            } else {
                queued.append(client)
            }
        }
        try #require(full, "the backlog never filled")
        let began = ContinuousClock.now
        let answer = PlainHTTP.exchange(.unix(path: path), method: "GET", path: "/", timeout: .milliseconds(300))
        #expect(answer == .failure(.timedOut("connecting")), "not a failed send on a connection never queued")
        #expect(ContinuousClock.now - began >= .milliseconds(250))
    }

    @Test func statusLinesAndHeaderFieldsAreReadByteByByte() {
        #expect(
            PlainHTTP.parse(
                bytes("HTTP/1.0 503\r\nRETRY-After:\t 2\t\r\nX-Empty:\r\nno colon here\r\n\r\n"), closed: true)
                == .complete(.init(status: 503, headers: ["retry-after": "2", "x-empty": ""], body: [])))
        #expect(PlainHTTP.parse(bytes("HTTP/1.1 200 OK\r\n\r\n"), closed: true) == .complete(.init(status: 200)))
        for line in ["HTTP/1.1 abc OK", "FOO 200 OK", "HTTP/1.1", "HTTP/1.1  200", "HTTP/1.1 2000 Big", ""] {
            #expect(PlainHTTP.parse(bytes("\(line)\r\nContent-Length: 0\r\n\r\n")) == .invalid, "\(line)")
        }
    }

    @Test func contentLengthBodyIsCompleteOnceAllOfItArrived() {
        let whole = bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello")
        #expect(
            PlainHTTP.parse(whole)
                == .complete(.init(status: 200, headers: ["content-length": "5", "x-a": "b"], body: bytes("hello"))))
        #expect(PlainHTTP.parse(Array(whole.dropLast(2))) == .incomplete)
        #expect(PlainHTTP.parse(Array(whole.dropLast(2)), closed: true) == .invalid)
    }

    @Test func chunkedBodyIsJoined() {
        let chunked = bytes(
            "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nload\r\n3\r\ning\r\n0\r\n\r\n"
        )
        guard case .complete(let response) = PlainHTTP.parse(chunked) else {
            Issue.record("not complete: \(PlainHTTP.parse(chunked))")
            return
        }
        #expect(response.status == 503)
        #expect(response.text == "loading")
        #expect(PlainHTTP.parse(Array(chunked.dropLast(5))) == .incomplete)
    }

    @Test func bodyWithoutLengthRunsUntilClose() {
        let raw = bytes("HTTP/1.0 200 OK\r\n\r\npartial")
        #expect(PlainHTTP.parse(raw) == .incomplete)
        #expect(PlainHTTP.parse(raw, closed: true) == .complete(.init(status: 200, body: bytes("partial"))))
    }

    @Test func garbageIsNotAResponse() {
        #expect(PlainHTTP.parse(bytes("SSH-2.0-OpenSSH\r\n\r\n")) == .invalid)
        #expect(PlainHTTP.parse(bytes("HTTP/1.1 abc\r\n\r\n")) == .invalid)
        #expect(PlainHTTP.parse(bytes("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n")) == .invalid)
    }

    @Test func exchangeOverUnixSocketSendsTheRequestAndReadsAChunkedAnswer() throws {
        let path = NSTemporaryDirectory() + "plainhttp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        defer { unlink(path) }
        let listener = try OneShotServer(unixPath: path) { request in
            // Echo the request line and body back, in two chunks.
            let text = String(decoding: request, as: UTF8.self)
            let first = text.components(separatedBy: "\r\n").first ?? ""
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined()
            return Array(
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n\(String(first.utf8.count, radix: 16))\r\n\(first)\r\n\(String(body.utf8.count, radix: 16))\r\n\(body)\r\n0\r\n\r\n"
                    .utf8)
        }
        let answer = PlainHTTP.exchange(
            .unix(path: path), method: "POST", path: "/v1/up", body: Array(#"{"names":["a"]}"#.utf8),
            timeout: .seconds(5))
        listener.join()
        let response = try answer.get()
        #expect(response.status == 201)
        #expect(response.text == #"POST /v1/up HTTP/1.1{"names":["a"]}"#)
        #expect(listener.received.contains(bytes("Content-Length: 15\r\n")))
    }

    @Test func missingSocketAndRefusedPortAreTold() throws {
        let missing = PlainHTTP.exchange(
            .unix(path: "/nonexistent/llama-orch.sock"), method: "GET", path: "/", timeout: .seconds(1))
        #expect(missing == .failure(.noSocket))
        // A port that was just free: nothing listens there.
        let port = try LlamaServerProbe.freePort()
        let refused = PlainHTTP.exchange(
            .tcp(host: "127.0.0.1", port: port), method: "GET", path: "/", timeout: .seconds(1))
        #expect(refused == .failure(.refused))
    }

    @Test func aSilentPeerTimesOutAtTheDeadline() throws {
        let path = NSTemporaryDirectory() + "plainhttp-silent-\(getpid()).sock"
        defer { unlink(path) }
        let listener = try OneShotServer(unixPath: path, delay: 3.0) { _ in [] }
        let started = ContinuousClock.now
        let answer = PlainHTTP.exchange(.unix(path: path), method: "GET", path: "/", timeout: .milliseconds(200))
        let waited = ContinuousClock.now - started
        listener.join()
        #expect(answer == .failure(.timedOut("waiting for the answer")))
        // At its own 200 ms, well before the peer closes the connection 3 s in.
        #expect(waited >= .milliseconds(200) && waited < .seconds(2))
    }
}
