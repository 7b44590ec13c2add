import AsyncHTTPClient
import ControlAPI
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import OrchestratorCore
import StateStore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The router through the real daemon, with the stub server (load time, SSE streams, what it received) for the
/// faults and timings a real server won't produce on demand.
@Suite(.serialized) struct RouterDaemonTests {
    /// One client for every test, with room for 64 connections at once.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }()

    struct Answer {
        var status: Int
        var body: String
        var headers: [(String, String)]

        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
        /// `error.code` and `error.message` of an OpenAI error envelope.
        var error: (code: String?, message: String?) {
            let inner = json?["error"] as? [String: Any]
            return (inner?["code"] as? String, inner?["message"] as? String)
        }
        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    static func send(
        _ url: String, method: HTTPMethod = .POST, body: [UInt8]? = nil, headers: [(String, String)] = [],
        timeout: TimeAmount = .seconds(120)
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            if !request.headers.contains(name: "Content-Type") {
                request.headers.add(name: "Content-Type", value: "application/json")
            }
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Answer(
            status: Int(response.status.code), body: String(buffer: bytes),
            headers: response.headers.map { ($0.name, $0.value) })
    }

    static func chat(_ model: String, stream: Bool = false) -> [UInt8] {
        Array(#"{"model": "\#(model)", "stream": \#(stream), "messages": [{"role": "user", "content": "hi"}]}"#.utf8)
    }

    /// A JSON `body` POSTed to `path` as a client writes it on the socket: the request line, `fields` (one
    /// `Name: value` each), the body's type and length, the body.
    static func post(
        _ body: [UInt8], to path: String = "/v1/chat/completions", version: String = "1.1",
        fields: [String] = ["Host: localhost"]
    ) -> [UInt8] {
        let head =
            ["POST \(path) HTTP/\(version)"] + fields + [
                "Content-Type: application/json", "Content-Length: \(body.count)",
            ]
        return Array((head.joined(separator: "\r\n") + "\r\n\r\n").utf8) + body
    }

    /// Two stub instances of about 13.5 MB on a 24 MiB GPU, so one at a time: busy streams `busyTokens` tokens at 20
    /// a second, cold loads in 50 ms. Returns the devices file for `LLAMA_ORCH_DEVICES`.
    static func writeBusyAndCold(_ harness: DaemonHarness, busyTokens: Int) throws -> String {
        let devices = try harness.project.write(
            "devices.json",
            #"{"devices": [{"name": "G0", "kind": "discrete", "total_mib": 24}, {"name": "host", "kind": "cpu", "total_mib": 65536}]}"#
        )
        for (name, args) in [
            ("busy", #""--tokens", "\#(busyTokens)", "--token-rate", "20""#), ("cold", #""--load-time", "0.05""#),
        ] {
            try harness.project.writeConfig(
                name,
                """
                {"name": "\(name)", "model": {"path": "../../models/dense.gguf", "context_size": 9216},
                 "server": {"port": \(try LlamaServerProbe.freePort())}, "gpu": {"backend": "static"},
                 "binary": {"path": "\(DaemonHarness.stub)"}, "args": [\(args)],
                 "healthcheck": {"interval": 2, "start_interval": 0.05, "timeout": 5, "retries": 3, "start_period": 10}}
                """)
        }
        return devices
    }

    /// Starts busy's stream (`writeBusyAndCold`) and returns once busy serves it: from then cold can't be loaded
    /// beside it, and busy can't be evicted while it serves.
    static func streamBusy(_ harness: DaemonHarness) async throws -> Task<Answer, any Error> {
        let url = harness.project.routerURL + "/v1/chat/completions"
        let streaming = Task { try await send(url, body: chat("busy", stream: true)) }
        #expect(
            try await DaemonHarness.eventually(.seconds(20)) {
                logLines(harness, "busy", containing: "request POST /v1/chat/completions").count >= 1
            }, "busy never got its request")
        return streaming
    }

    /// A daemon serving the router, with one stub instance, `known`, started with `up`.
    static func routerWithKnown(_ label: String, args: [String] = [], router: String = "") throws -> DaemonHarness {
        let harness = try DaemonHarness(label)
        do {
            try harness.stubInstance("known", port: try LlamaServerProbe.freePort(), args: args)
            try harness.project.write(
                "llama-orch.json",
                #"{"router": {"listen": "127.0.0.1:\#(harness.project.routerPort)"\#(router)}}"#)
            try harness.ok(["daemon", "start"])
            try harness.ok(["up", "known", "--wait", "--timeout", "30"])
        } catch {
            harness.cleanUp()
            throw error
        }
        return harness
    }

    /// Sends `bytes` on a new connection to `port` and reads until the connection closes (20 s at most).
    static func exchange(_ bytes: [UInt8], port: Int) throws -> String {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        connection.send(bytes)
        return connection.receive()
    }

    /// Lines of an instance's stderr log that contain `text`.
    static func logLines(_ harness: DaemonHarness, _ name: String, containing text: String) -> [String] {
        (harness.project.read("logs/\(name)/stderr.log") ?? "").split(separator: "\n").map(String.init).filter {
            $0.contains(text)
        }
    }

    static func epochMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    @Test(.timeLimit(.minutes(2)))
    func fiftyConcurrentRequestsForAColdInstanceStartItOnce() async throws {
        let harness = try DaemonHarness("router-cold")
        defer { harness.cleanUp() }
        try harness.stubInstance(
            "cold", port: try LlamaServerProbe.freePort(), args: ["--load-time", "1"],
            extra: #", "router": {"concurrency_limit": 100}"#)
        try harness.ok(["daemon", "start"])
        let url = harness.project.routerURL + "/v1/chat/completions"
        let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
            for _ in 0..<50 { group.addTask { try await Self.send(url, body: Self.chat("cold")) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.count == 50)
        let statuses = answers.map { $0.status }
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(Self.logLines(harness, "cold", containing: "listening on").count == 1, "one spawn")
        let listed = try #require(try harness.ps().first { $0.name == "cold" })
        #expect(listed.state == .healthy)
        #expect(listed.router?.startedByRouter == true, "\(String(describing: listed.router))")
        #expect(listed.router?.status == "loaded")
        let table = try harness.ok(["ps"]).stdout
        #expect(table.contains("router"), "ps says the router started it: \(table)")
    }

    @Test(.timeLimit(.minutes(2)))
    func aThirtyMiBBodyArrivesIntactAndThirtyThreeMiBIsRefusedBeforeAnyUpstreamConnection() async throws {
        let harness = try DaemonHarness("router-body")
        defer { harness.cleanUp() }
        try harness.stubInstance("big", port: try LlamaServerProbe.freePort(), args: [])
        try harness.ok(["daemon", "start"])
        let url = harness.project.routerURL + "/v1/chat/completions"
        #expect(try await Self.send(url, body: Self.chat("big")).status == 200)

        func body(mebibytes: Int) -> [UInt8] {
            let head = Array(#"{"model": "big", "messages": [{"role": "user", "content": ""#.utf8)
            let tail = Array(#""}]}"#.utf8)
            var bytes = head
            let fill = (mebibytes << 20) - head.count - tail.count
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
            bytes.reserveCapacity(mebibytes << 20)
            for index in 0..<fill { bytes.append(alphabet[(index &* 7 &+ index >> 9) & 63]) }
            return bytes + tail
        }
        let thirty = body(mebibytes: 30)
        let answer = try await Self.send(url, body: thirty)
        #expect(answer.status == 200, "\(answer.body.prefix(300))")
        let json = try #require(answer.json)
        #expect(json["received_bytes"] as? Int == thirty.count)
        #expect(json["received_hash"] as? String == fnv1a(thirty), "the body arrived unchanged")

        let requestsBefore = Self.logLines(harness, "big", containing: "stub-llama-server: request POST").count
        let refused = try await Self.send(url, body: body(mebibytes: 33))
        #expect(refused.status == 413)
        #expect(refused.error.code == "request_too_large", "\(refused.body)")
        try await Task.sleep(for: .milliseconds(300))
        #expect(
            Self.logLines(harness, "big", containing: "stub-llama-server: request POST").count == requestsBefore,
            "no request reached the server")
    }

    @Test(.timeLimit(.minutes(2)))
    func aClientThatLeavesMidStreamClosesTheUpstreamWithin100ms() async throws {
        let harness = try DaemonHarness("router-leave")
        defer { harness.cleanUp() }
        try harness.stubInstance(
            "talker", port: try LlamaServerProbe.freePort(), args: ["--tokens", "100000", "--token-rate", "50"])
        try harness.ok(["daemon", "start"])
        #expect(
            try await Self.send(harness.project.routerURL + "/v1/chat/completions", body: Self.chat("talker")).status
                == 200)

        // A plain socket, so that the test decides exactly when the client goes.
        let socket = try connectLoopback(port: harness.project.routerPort)
        let request = Self.post(Self.chat("talker", stream: true), fields: ["Host: 127.0.0.1"])
        _ = request.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.components(separatedBy: "data: ").count <= 3 {
            let count = recv(socket, &buffer, buffer.count, 0)
            try #require(count > 0, "the stream ended early: \(received)")
            received += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        #expect(received.lowercased().contains("x-accel-buffering: no"), "\(received.prefix(400))")
        #expect(received.lowercased().contains("content-type: text/event-stream"))
        close(socket)
        let left = Self.epochMilliseconds()
        var closedAt: Int64?
        let deadline = ContinuousClock.now + .seconds(5)
        while closedAt == nil, ContinuousClock.now < deadline {
            if let line = Self.logLines(harness, "talker", containing: "stream closed by the client").last,
                let time = line.split(separator: " ").last.flatMap({ Int64($0) })
            {
                closedAt = time
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let closed = try #require(closedAt, "the server kept streaming to nobody")
        #expect(closed - left <= 100, "the upstream closed \(closed - left) ms after the client left")
    }

    @Test(.timeLimit(.minutes(3)))
    func idleUnloadComesWithinTheTTLPlusASecondAndNeverDuringAStream() async throws {
        let harness = try DaemonHarness("router-idle")
        defer { harness.cleanUp() }
        try harness.stubInstance(
            "quick", port: try LlamaServerProbe.freePort(), args: [], extra: #", "router": {"idle_ttl": 5}"#)
        // Streams for 60 s: twelve times its TTL.
        try harness.stubInstance(
            "long", port: try LlamaServerProbe.freePort(), args: ["--tokens", "300", "--token-rate", "5"],
            extra: #", "router": {"idle_ttl": 5}"#)
        try harness.ok(["daemon", "start"])
        let url = harness.project.routerURL + "/v1/chat/completions"
        let streaming = Task { try await Self.send(url, body: Self.chat("long", stream: true)) }
        let quick = try await Self.send(url, body: Self.chat("quick"))
        #expect(quick.status == 200, "\(quick.body)")
        let ended = ContinuousClock.now
        var unloadedAfter: Duration?
        var longStoppedEarly = false
        while ContinuousClock.now - ended < .seconds(56) {
            let listed = try harness.ps()
            if unloadedAfter == nil, listed.first(where: { $0.name == "quick" })?.state == .stopped {
                unloadedAfter = ContinuousClock.now - ended
            }
            if listed.first(where: { $0.name == "long" })?.state == .stopped { longStoppedEarly = true }
            try await Task.sleep(for: .milliseconds(unloadedAfter == nil ? 100 : 500))
        }
        let after = try #require(unloadedAfter, "quick was never unloaded")
        #expect(after >= .milliseconds(4900) && after <= .seconds(6), "unloaded \(after) after its last request")
        #expect(!longStoppedEarly, "an instance serving a stream was unloaded")
        let stream = try await streaming.value
        #expect(stream.status == 200 && stream.body.contains("[DONE]"))
        let end = ContinuousClock.now
        #expect(
            try await DaemonHarness.eventually(.seconds(8)) {
                try harness.ps().first { $0.name == "long" }?.state == .stopped
            })
        #expect(ContinuousClock.now - end <= .seconds(6) + .milliseconds(500))
        // The supervisor says why it stopped.
        let described = try harness.ok(["describe", "quick", "--json"])
        #expect(described.stdout.contains("unloaded by the router after its idle TTL"), "\(described.stdout)")
    }

    @Test(.timeLimit(.minutes(2)))
    func aServerThatDiesMidStreamEndsTheStreamWithAnErrorAndOverTheLimitIs429BeforeAnyByte() async throws {
        let harness = try DaemonHarness("router-faults")
        defer { harness.cleanUp() }
        // Dies after 5 of 50 events at 20 a second.
        try harness.stubInstance(
            "crashy", port: try LlamaServerProbe.freePort(),
            args: ["--tokens", "50", "--token-rate", "20", "--crash-mid-stream", "5"])
        // One request at a time, streaming for 2 s.
        try harness.stubInstance(
            "single", port: try LlamaServerProbe.freePort(), args: ["--tokens", "40", "--token-rate", "20"],
            extra: #", "router": {"concurrency_limit": 1}"#)
        try harness.ok(["daemon", "start"])
        let url = harness.project.routerURL + "/v1/chat/completions"

        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: Self.chat("crashy", stream: true)))
        let response = try await Self.client.execute(request, timeout: .seconds(60))
        #expect(response.status == .ok)
        #expect(response.headers["X-Accel-Buffering"].first == "no", "\(response.headers)")
        var text = ""
        var lastEvent = ContinuousClock.now
        do {
            for try await chunk in response.body {
                let piece = String(buffer: chunk)
                if piece.contains("chat.completion.chunk") { lastEvent = .now }
                text += piece
            }
        } catch {
            // The connection is cut after the error event: that is the end of the stream.
        }
        let ended = ContinuousClock.now - lastEvent
        #expect(text.components(separatedBy: "chat.completion.chunk").count - 1 == 5, "\(text)")
        #expect(text.contains("the answer broke off"), "the stream ends with an error event: \(text)")
        #expect(ended < .seconds(1), "the stream ended \(ended) after the server's last event")
        // The supervisor restarts it by its policy, and the next request is served.
        #expect(
            try await DaemonHarness.eventually(.seconds(20)) {
                let crashy = try harness.ps().first { $0.name == "crashy" }
                return crashy?.state == .healthy && (crashy?.restarts ?? 0) >= 1
            }, "crashy was not restarted")
        let after = try await Self.send(url, body: Self.chat("crashy"))
        #expect(after.status == 200, "\(after.body)")

        // Over the concurrency limit: 429 with Retry-After, a whole answer, while the first streams.
        let first = Task { try await Self.send(url, body: Self.chat("single", stream: true)) }
        #expect(
            try await DaemonHarness.eventually(.seconds(20)) {
                Self.logLines(harness, "single", containing: "request POST /v1/chat/completions").count >= 1
            })
        let second = try await Self.send(url, body: Self.chat("single", stream: true))
        #expect(second.status == 429, "\(second.body)")
        #expect(second.header("Retry-After") != nil, "\(second.headers)")
        #expect(second.error.code == "concurrency_limit", "\(second.body)")
        #expect(!second.body.contains("data:"), "no byte of a stream before the 429")
        let streamed = try await first.value
        #expect(streamed.status == 200 && streamed.body.contains("[DONE]"), "\(streamed.body)")
    }

    @Test(.timeLimit(.minutes(2)))
    func whoStartedAnInstanceOutlivesADaemonRestartAndUpMakesItTheUsers() async throws {
        let harness = try DaemonHarness("router-owner")
        defer { harness.cleanUp() }
        try harness.stubInstance(
            "lazy", port: try LlamaServerProbe.freePort(), args: [], extra: #", "router": {"idle_ttl": 4}"#)
        try harness.stubInstance(
            "kept", port: try LlamaServerProbe.freePort(), args: [], extra: #", "router": {"idle_ttl": 4}"#)
        try harness.ok(["daemon", "start"])
        let url = harness.project.routerURL + "/v1/chat/completions"
        for model in ["lazy", "kept"] {
            let answer = try await Self.send(url, body: Self.chat(model))
            #expect(answer.status == 200, "\(answer.body)")
        }
        let started = try harness.ps()
        #expect(started.allSatisfy { $0.router?.startedByRouter == true }, "\(started)")
        // `up` of a running instance the router started: the user's from now on, never unloaded.
        try harness.ok(["up", "kept"])
        #expect(try harness.ps().first { $0.name == "kept" }?.router?.startedByRouter == false)
        // The daemon restarts and re-adopts both servers: the router's is still the router's.
        let pids = try harness.ps().map(\.pid)
        try harness.ok(["daemon", "stop", "--keep-instances"])
        try harness.ok(["daemon", "start"])
        let adopted = try harness.ps()
        #expect(adopted.map(\.pid) == pids, "the servers were not re-adopted: \(adopted)")
        #expect(adopted.first { $0.name == "lazy" }?.router?.startedByRouter == true, "\(adopted)")
        #expect(adopted.first { $0.name == "kept" }?.router?.startedByRouter == false, "\(adopted)")
        #expect(
            try await DaemonHarness.eventually(.seconds(3)) {
                try harness.ps().first { $0.name == "lazy" }?.state == .healthy
            })
        let described = try harness.ok(["describe", "lazy"]).stdout
        #expect(described.contains("router: loaded · started by the router · unload in"), "\(described)")
        let keptDescribed = try harness.ok(["describe", "kept"]).stdout
        #expect(keptDescribed.contains("router: loaded · started with up"), "\(keptDescribed)")
        let restarted = ContinuousClock.now
        #expect(
            try await DaemonHarness.eventually(.seconds(8)) {
                try harness.ps().first { $0.name == "lazy" }?.state == .stopped
            }, "the router's instance was not unloaded after the restart")
        #expect(ContinuousClock.now - restarted <= .seconds(6), "unloaded after \(ContinuousClock.now - restarted)")
        try await Task.sleep(for: .seconds(1))
        #expect(try harness.ps().first { $0.name == "kept" }?.state == .healthy, "the user's instance was unloaded")
    }

    @Test(.timeLimit(.minutes(2)))
    func aClientThatLeavesWhileQueuedTriggersNoLoad() async throws {
        let harness = try DaemonHarness("router-queued-leave")
        defer { harness.cleanUp() }
        let devices = try Self.writeBusyAndCold(harness, busyTokens: 60)
        try harness.ok(["daemon", "start"], environment: ["LLAMA_ORCH_DEVICES": devices])
        let url = harness.project.routerURL + "/v1/chat/completions"
        // busy streams for 3 s.
        let streaming = try await Self.streamBusy(harness)
        let socket = try connectLoopback(port: harness.project.routerPort)
        let request = Self.post(Self.chat("cold"), fields: ["Host: 127.0.0.1"])
        _ = request.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(
            try await DaemonHarness.eventually(.seconds(5)) {
                try harness.ps().first { $0.name == "cold" }?.router?.queued == 1
            }, "the request for cold never queued")
        close(socket)
        let stream = try await streaming.value
        #expect(stream.status == 200 && stream.body.contains("[DONE]"), "\(stream.body)")
        // Past the stream's end, with busy idle and evictable: nothing wants cold any more.
        try await Task.sleep(for: .seconds(2))
        #expect(try harness.ps().first { $0.name == "cold" }?.state == .stopped, "cold was loaded for nobody")
        #expect(!harness.project.exists("logs/cold/stderr.log"), "a server was spawned for cold")
        // The same request, staying, loads it (evicting busy): the setup could load it.
        let served = try await Self.send(url, body: Self.chat("cold"))
        #expect(served.status == 200, "\(served.body)")
        #expect(try harness.ps().first { $0.name == "busy" }?.state == .stopped, "busy was not evicted")
    }

    @Test(.timeLimit(.minutes(2)))
    func aFullQueueIs503AndAWaitPastTheQueueTimeoutIs504() async throws {
        let harness = try DaemonHarness("router-queue-limits")
        defer { harness.cleanUp() }
        let devices = try Self.writeBusyAndCold(harness, busyTokens: 80)
        try harness.project.write(
            "llama-orch.json",
            #"{"router": {"listen": "127.0.0.1:\#(harness.project.routerPort)", "queue_limit": 1, "queue_timeout": 1.5}}"#
        )
        try harness.ok(["daemon", "start"], environment: ["LLAMA_ORCH_DEVICES": devices])
        let url = harness.project.routerURL + "/v1/chat/completions"
        // busy streams for 4 s.
        let streaming = try await Self.streamBusy(harness)
        let sent = ContinuousClock.now
        let waiting = Task { try await Self.send(url, body: Self.chat("cold")) }
        #expect(
            try await DaemonHarness.eventually(.seconds(5)) {
                try harness.ps().first { $0.name == "cold" }?.router?.queued == 1
            }, "the first request for cold never queued")
        // The queue holds one: the second is refused at once.
        let refused = try await Self.send(url, body: Self.chat("cold"))
        #expect(refused.status == 503, "\(refused.body)")
        #expect(refused.header("Retry-After") == "1")
        #expect(refused.body.contains(#""code":"queue_full""#), "\(refused.body)")
        // The first waits its queue timeout, then 504, while busy still streams.
        let timedOut = try await waiting.value
        let waited = ContinuousClock.now - sent
        #expect(timedOut.status == 504, "\(timedOut.body)")
        #expect(timedOut.body.contains(#""code":"queue_timeout""#), "\(timedOut.body)")
        #expect(waited >= .milliseconds(1400) && waited < .seconds(3), "answered after \(waited)")
        let stream = try await streaming.value
        #expect(stream.status == 200 && stream.body.contains("[DONE]"), "\(stream.body)")
        #expect(!harness.project.exists("logs/cold/stderr.log"), "a server was spawned for cold")
    }

    @Test(.timeLimit(.minutes(3)))
    func aThousandRandomRequestsOverSixModelsNeverOverfillTheDevice() async throws {
        let harness = try DaemonHarness("router-soak")
        defer { harness.cleanUp() }
        // Six models of 1.1 to 13.5 MB on a 24 MiB GPU (21.6 MiB after headroom): two or three fit at once.
        let totalMiB = 24
        let devices = try harness.project.write(
            "devices.json",
            #"{"devices": [{"name": "G0", "kind": "discrete", "total_mib": \#(totalMiB)}, {"name": "host", "kind": "cpu", "total_mib": 65536}]}"#
        )
        let names = (1...6).map { "m\($0)" }
        for (index, name) in names.enumerated() {
            try harness.project.writeConfig(
                name,
                """
                {"name": "\(name)", "model": {"path": "../../models/dense.gguf", "context_size": \(256 * (index + 1) * (index + 1))},
                 "server": {"port": \(try LlamaServerProbe.freePort())}, "gpu": {"backend": "static"},
                 "binary": {"path": "\(DaemonHarness.stub)"}, "args": ["--load-time", "0.05"],
                 "healthcheck": {"interval": 2, "start_interval": 0.05, "timeout": 5, "retries": 3, "start_period": 10},
                 "router": {"concurrency_limit": 1000}}
                """)
        }
        try harness.ok(["daemon", "start"], environment: ["LLAMA_ORCH_DEVICES": devices])
        let store = try harness.store()
        let limit = UInt64(totalMiB) << 20
        // Watches the device while the requests run: the placements of the servers that run, summed.
        let watcher = Task { () -> UInt64 in
            var peak: UInt64 = 0
            while !Task.isCancelled {
                let held = ((try? store.openRuns()) ?? []).compactMap(\.placement).flatMap(\.shares)
                    .reduce(UInt64(0)) { $0 + $1.bytes }
                peak = max(peak, held)
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }
        let url = harness.project.routerURL + "/v1/chat/completions"
        var generator = SeededGenerator(seed: 20_261_206)
        let picks = (0..<1000).map { _ in names[Int(generator.next() % 6)] }
        // A request with no answer in time counts as status 0, so that the others still finish.
        let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            var answers: [(Int, String)] = []
            for (index, model) in picks.enumerated() {
                if index >= 16, let answer = try await group.next() { answers.append(answer) }
                group.addTask {
                    let answer = try? await Self.send(url, body: Self.chat(model), timeout: TimeAmount.seconds(90))
                    return (answer?.status ?? 0, "\(model): \(answer?.body.prefix(300) ?? "no answer in 90 s")")
                }
            }
            for try await answer in group { answers.append(answer) }
            return answers
        }
        watcher.cancel()
        let peak = await watcher.value
        #expect(answers.count == 1000, "every request got an answer")
        let failed = answers.filter { $0.0 != 200 }
        #expect(
            failed.isEmpty,
            "\(failed.count) not answered 200 (a busy instance evicted answers 502), the first: \(failed.prefix(3).map(\.1)) in \(harness.root)"
        )
        #expect(peak > 0 && peak <= limit, "peak \(peak) bytes placed on a \(limit)-byte device")
        let loads = try store.events(limit: 10_000).filter { $0.kind == "router-started" }.count
        #expect(loads >= 6 && loads < 1000, "\(loads) loads")
    }

    /// Every way a request names its model reaches the instance: `/upstream/{model}/...` (any path, passed
    /// through), `?model=` on `GET /props`, the multipart field of a transcription, and a JSON body sent in chunks
    /// (no length); what the server answers, errors included, comes back as it is.
    @Test(.timeLimit(.minutes(2)))
    func everyWayOfNamingTheModelReachesTheInstance() async throws {
        let harness = try Self.routerWithKnown("router-routes")
        defer { harness.cleanUp() }
        let base = harness.project.routerURL
        func reached(_ line: String) -> Bool { !Self.logLines(harness, "known", containing: line).isEmpty }

        let health = try await Self.send(base + "/upstream/known/health", method: .GET)
        #expect(health.status == 200 && health.body == #"{"status":"ok"}"#, "\(health.body)")
        let chat = try await Self.send(base + "/upstream/known/v1/chat/completions?x=1", body: Self.chat("anything"))
        #expect(chat.status == 200 && chat.body.contains(#""received_hash":"\#(fnv1a(Self.chat("anything")))""#))
        #expect(reached("request POST /v1/chat/completions?x=1 "), "the path after the model, query included")

        let props = try await Self.send(base + "/props?model=known", method: .GET)
        #expect(props.status == 404 && props.body.contains("File Not Found"), "the server's own 404: \(props.body)")
        #expect(reached("request GET /props?model=known "))

        let form = Array(
            ("--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nknown\r\n"
                + "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF\r\n--XyZ--\r\n")
                .utf8)
        let transcription = try await Self.send(
            base + "/v1/audio/transcriptions", body: form,
            headers: [("Content-Type", "multipart/form-data; boundary=XyZ")])
        #expect(transcription.status == 404 && transcription.body.contains("File Not Found"), "\(transcription.body)")
        #expect(reached("request POST /v1/audio/transcriptions \(form.count) bytes"))

        // A body sent in chunks, of no announced length.
        let body = Self.chat("known")
        let half = body.count / 2
        var raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        raw += "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        raw += String(half, radix: 16) + "\r\n" + String(decoding: body[..<half], as: UTF8.self) + "\r\n"
        raw += String(body.count - half, radix: 16) + "\r\n" + String(decoding: body[half...], as: UTF8.self)
        raw += "\r\n0\r\n\r\n"
        let answer = try Self.exchange(Array(raw.utf8), port: harness.project.routerPort)
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        #expect(answer.contains(#""received_hash":"\#(fnv1a(body))""#), "the body, whole: \(answer)")

        // The request log keeps the paths the client asked for (without the query).
        let asked: Set<String> = [
            "/upstream/known/health", "/upstream/known/v1/chat/completions", "/props", "/v1/audio/transcriptions",
            "/v1/chat/completions",
        ]
        var logged: Set<String> = []
        _ = try await DaemonHarness.eventually(.seconds(5)) {
            logged = Set(try harness.store().routerRequests(since: 0, model: "known").map(\.path))
            return logged == asked
        }
        #expect(logged == asked)
    }

    /// A body sent in chunks announces no length: past `max_body_mb` it is refused with 413 once read, and the
    /// server never hears of it (the 30/33 MiB test covers a body whose length is announced).
    @Test(.timeLimit(.minutes(2)))
    func aChunkedBodyOverTheLimitIs413AndReachesNoServer() async throws {
        let harness = try Self.routerWithKnown("router-chunked-limit", router: #", "max_body_mb": 1"#)
        defer { harness.cleanUp() }
        let chunk = String(repeating: "x", count: 64 << 10)
        var raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        raw += "Transfer-Encoding: chunked\r\n\r\n"
        raw += String(20, radix: 16) + "\r\n" + #"{"model": "known", "pad": "xxxx"#.prefix(20) + "\r\n"
        for _ in 0..<24 { raw += String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n" }
        raw += "0\r\n\r\n"
        let answer = try Self.exchange(Array(raw.utf8), port: harness.project.routerPort)
        #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer.prefix(300))")
        #expect(answer.contains("request_too_large"), "\(answer.prefix(300))")
        #expect(Self.logLines(harness, "known", containing: "request POST").isEmpty, "no request reached the server")
    }

    /// curl sends `Expect: 100-continue` with a body over 1 MiB, then waits up to a second for the word before it
    /// sends the body: the router says it at once and relays the request without the header (the body goes with
    /// it); a body over the limit is refused at once, before it is sent.
    @Test(.timeLimit(.minutes(2)))
    func aClientThatExpects100ContinueIsAnsweredAtOnce() async throws {
        let harness = try Self.routerWithKnown("router-expect", router: #", "max_body_mb": 1"#)
        defer { harness.cleanUp() }
        func head(length: Int) -> [UInt8] {
            Array(
                ("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(length)\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").utf8)
        }
        let connection = try RawConnection(port: harness.project.routerPort, timeout: 5)
        defer { connection.close() }
        let body = Self.chat("known")
        let started = ContinuousClock.now
        connection.send(head(length: body.count))
        let interim = connection.receive { $0.contains("\r\n\r\n") }
        #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "no 100 Continue within 5 s: \(interim)")
        #expect(ContinuousClock.now - started < .seconds(1))
        connection.send(body)
        let answer = connection.receive()
        #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("chat.completion"), "\(answer.prefix(300))")
        #expect(Self.logLines(harness, "known", containing: "request POST /v1/chat/completions").count == 1)
        #expect(Self.logLines(harness, "known", containing: "Expect header").isEmpty, "the header was relayed")

        let refused = try Self.exchange(head(length: 2 << 20), port: harness.project.routerPort)
        #expect(refused.hasPrefix("HTTP/1.1 413") && refused.contains("request_too_large"), "\(refused.prefix(300))")
    }

    /// A web page may use the router from a browser when `router.cors_origins` lists its origin (by default, pages
    /// on this machine): its preflight is answered without a key, and every answer, errors included, names the
    /// origin; a page from elsewhere gets 403 for its preflight and answers it cannot read.
    @Test(.timeLimit(.minutes(2)))
    func pagesOfAllowedOriginsMayUseTheRouterFromABrowser() async throws {
        let harness = try Self.routerWithKnown("router-cors", router: #", "api_keys": ["sk-cors-test"]"#)
        defer { harness.cleanUp() }
        let port = harness.project.routerPort
        func preflight(_ origin: String) throws -> String {
            try Self.exchange(
                Array(
                    ("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nOrigin: \(origin)\r\n"
                        + "Access-Control-Request-Method: POST\r\n"
                        + "Access-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n")
                        .utf8), port: port)
        }
        func chat(
            _ origin: String, key: String = "sk-cors-test", path: String = "/v1/chat/completions"
        ) throws
            -> String
        {
            let fields = ["Host: localhost", "Origin: \(origin)", "Authorization: Bearer \(key)", "Connection: close"]
            return try Self.exchange(Self.post(Self.chat("known"), to: path, fields: fields), port: port)
        }
        func allowed(_ answer: String) -> String? {
            answer.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix("access-control-allow-origin:") }
        }

        let local = try preflight("http://localhost:5173")
        #expect(local.hasPrefix("HTTP/1.1 204"), "\(local)")
        #expect(allowed(local) == "Access-Control-Allow-Origin: http://localhost:5173", "\(local)")
        #expect(local.contains("Access-Control-Allow-Methods: POST"), "\(local)")
        #expect(local.contains("Access-Control-Allow-Headers: authorization, content-type"), "\(local)")
        let elsewhere = try preflight("https://evil.example")
        #expect(elsewhere.hasPrefix("HTTP/1.1 403") && elsewhere.contains("router.cors_origins"), "\(elsewhere)")
        #expect(allowed(elsewhere) == nil, "\(elsewhere)")

        let answered = try chat("http://localhost:5173")
        #expect(answered.hasPrefix("HTTP/1.1 200") && answered.contains("chat.completion"), "\(answered)")
        #expect(allowed(answered) == "Access-Control-Allow-Origin: http://localhost:5173", "\(answered)")
        let refused = try chat("http://localhost:5173", key: "wrong-key")
        #expect(refused.hasPrefix("HTTP/1.1 401"), "\(refused)")
        #expect(
            allowed(refused) == "Access-Control-Allow-Origin: http://localhost:5173", "a page reads why: \(refused)")
        let unknown = try chat("http://localhost:5173", path: "/v1/nothing")
        #expect(unknown.hasPrefix("HTTP/1.1 404") && allowed(unknown) != nil, "\(unknown)")
        let ghost = try Self.exchange(
            Self.post(
                Self.chat("ghost"),
                fields: [
                    "Host: localhost", "Origin: http://127.0.0.1:3000", "Authorization: Bearer sk-cors-test",
                    "Connection: close",
                ]), port: port)
        #expect(ghost.hasPrefix("HTTP/1.1 404") && ghost.contains("model_not_found"), "\(ghost)")
        #expect(
            allowed(ghost) == "Access-Control-Allow-Origin: http://127.0.0.1:3000", "the router's own error: \(ghost)")
        #expect(ghost.contains("Vary: Origin"), "\(ghost)")
        // A page from elsewhere is refused whatever it sends: a form or a text/plain POST needs no preflight.
        let before = Self.logLines(harness, "known", containing: "request POST").count
        let foreign = try chat("https://evil.example")
        #expect(foreign.hasPrefix("HTTP/1.1 403") && foreign.contains("origin_not_allowed"), "\(foreign)")
        #expect(allowed(foreign) == nil, "\(foreign)")
        #expect(Self.logLines(harness, "known", containing: "request POST").count == before, "it reached the server")
        let listed = try Self.exchange(
            Array("GET /v1/models HTTP/1.1\r\nHost: localhost\r\nOrigin: null\r\nConnection: close\r\n\r\n".utf8),
            port: port)
        #expect(listed.hasPrefix("HTTP/1.1 403"), "\(listed)")
    }

    /// A site whose name an attacker points at 127.0.0.1 (DNS rebinding) is its own origin to the browser, which then
    /// sends no `Origin` with a GET: the router refuses a request that names a host other than this machine's or
    /// `router.allowed_hosts`, whichever path would take it; `/health` stays open.
    @Test(.timeLimit(.minutes(2)))
    func requestsByANameThatIsNotThisMachinesAreRefused() async throws {
        let harness = try Self.routerWithKnown("router-hosts", router: #", "allowed_hosts": ["llm.lan"]"#)
        defer { harness.cleanUp() }
        let port = harness.project.routerPort
        func get(_ path: String, host: String) throws -> String {
            try Self.exchange(
                Array("GET \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8), port: port)
        }
        func chat(host: String) throws -> String {
            try Self.exchange(
                Self.post(Self.chat("known"), fields: ["Host: \(host)", "Connection: close"]), port: port)
        }
        // What reached the server (its health probes aside).
        func reached() -> Int {
            Self.logLines(harness, "known", containing: "request POST").count
                + Self.logLines(harness, "known", containing: "request GET /props").count
        }
        let before = reached()
        let listed = try get("/v1/models", host: "rebound.example:\(port)")
        #expect(listed.hasPrefix("HTTP/1.1 403") && listed.contains("host_not_allowed"), "\(listed)")
        #expect(listed.contains("'rebound.example'") && listed.contains("router.allowed_hosts"), "\(listed)")
        #expect(!listed.contains("known"), "\(listed)")
        let chatted = try chat(host: "rebound.example:\(port)")
        #expect(chatted.hasPrefix("HTTP/1.1 403") && chatted.contains("host_not_allowed"), "\(chatted)")
        let passed = try get("/upstream/known/props", host: "rebound.example")
        #expect(passed.hasPrefix("HTTP/1.1 403"), "\(passed)")
        let queried = try get("/props?model=known", host: "rebound.example")
        #expect(queried.hasPrefix("HTTP/1.1 403"), "\(queried)")
        #expect(reached() == before, "a request reached the server")

        #expect(try get("/health", host: "rebound.example").hasPrefix("HTTP/1.1 200"))
        let allowed = try get("/v1/models", host: "llm.lan:\(port)")
        #expect(allowed.hasPrefix("HTTP/1.1 200") && allowed.contains("known"), "\(allowed)")
        for host in ["localhost:\(port)", "127.0.0.1:\(port)"] {
            let answered = try chat(host: host)
            #expect(answered.hasPrefix("HTTP/1.1 200") && answered.contains("chat.completion"), "\(host): \(answered)")
        }
    }

    /// An HTTP/1.0 client (HAProxy's and nagios's health checks by default) cannot read a chunked answer and waits
    /// for the connection to close: the router's own answers are framed by their length, and the connection ends
    /// with the answer, whichever path answered.
    @Test(.timeLimit(.minutes(2)))
    func anHTTP10ClientGetsAnswersFramedByLengthAndTheConnectionClosed() async throws {
        let harness = try Self.routerWithKnown("router-http10")
        defer { harness.cleanUp() }
        for path in ["/health", "/v1/models", "/v1/nothing", "/v1/chat/completions"] {
            let started = ContinuousClock.now
            let request =
                path == "/v1/chat/completions"
                ? Self.post(Self.chat("known"), version: "1.0", fields: [])
                : Array("GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n".utf8)
            let answer = try Self.exchange(request, port: harness.project.routerPort)
            #expect(ContinuousClock.now - started < .seconds(5), "\(path): the connection stayed open")
            let parts = answer.components(separatedBy: "\r\n\r\n")
            let fields = parts[0].lowercased().components(separatedBy: "\r\n")
            #expect(!fields.contains { $0.hasPrefix("transfer-encoding") }, "\(path): \(answer)")
            let body = parts.dropFirst().joined(separator: "\r\n\r\n")
            #expect(fields.contains("content-length: \(body.utf8.count)"), "\(path): \(answer)")
            #expect(body.hasPrefix("{") && body.hasSuffix("}"), "\(path): \(answer)")
        }
        // A stream has no length: it is not chunked (an HTTP/1.0 client would read the chunk sizes as events) but
        // ends with the connection, even for a client that asked to keep it.
        let started = ContinuousClock.now
        let answer = try Self.exchange(
            Self.post(Self.chat("known", stream: true), version: "1.0", fields: ["Connection: keep-alive"]),
            port: harness.project.routerPort)
        #expect(ContinuousClock.now - started < .seconds(5), "the connection stayed open after the stream")
        let parts = answer.components(separatedBy: "\r\n\r\n")
        let fields = parts[0].lowercased().components(separatedBy: "\r\n")
        #expect(fields.first?.hasPrefix("http/1.0 200") == true, "\(answer)")
        #expect(fields.contains("connection: close") && !fields.contains { $0.hasPrefix("transfer-encoding") })
        let events = parts.dropFirst().joined(separator: "\r\n\r\n").components(separatedBy: "\n\n").filter {
            !$0.isEmpty
        }
        // The stub's 8 tokens, its usage event and [DONE], each event as the server wrote it and nothing between.
        #expect(events.count == 10 && events.allSatisfy { $0.hasPrefix("data: ") }, "\(events)")
        #expect(events.last == "data: [DONE]", "\(answer)")
    }

    /// HEAD on the router's own endpoints is GET's answer without its body (`HEAD /v1/models` and `/metrics` were
    /// 404); a method a known path does not take is 405 with `Allow` (it was 404, or 200 for `DELETE /health`), an
    /// unknown path 404.
    @Test(.timeLimit(.minutes(2)))
    func headIsAnsweredWithoutABodyAndAMethodAPathDoesNotTakeIs405() async throws {
        let harness = try Self.routerWithKnown("router-methods")
        defer { harness.cleanUp() }
        let requests =
            ["HEAD /health", "HEAD /v1/models", "HEAD /metrics"].map {
                "\($0) HTTP/1.1\r\nHost: localhost\r\n\r\n"
            }.joined() + "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        let answers = try Self.exchange(Array(requests.utf8), port: harness.project.routerPort)
            .components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(answers.count == 4, "\(answers)")
        for answer in answers.prefix(3) {
            let fields = answer.lowercased().components(separatedBy: "\r\n")
            #expect(answer.hasPrefix("200 ") && answer.hasSuffix("\r\n\r\n"), "no body: \(answer)")
            let length = fields.first { $0.hasPrefix("content-length: ") }.flatMap { Int($0.dropFirst(16)) }
            #expect((length ?? 0) > 0, "GET's length: \(answer)")
        }
        #expect(answers.last?.hasSuffix(#"{"status":"ok"}"#) == true, "\(answers)")

        let base = harness.project.routerURL
        for (method, path, allowed) in [
            (HTTPMethod.DELETE, "/health", "GET, HEAD"), (.POST, "/v1/models", "GET, HEAD"),
            (.GET, "/models/load", "POST"), (.GET, "/v1/chat/completions", "POST"), (.PUT, "/tokenize", "POST"),
        ] {
            let answer = try await Self.send(base + path, method: method)
            #expect(answer.status == 405, "\(method) \(path): \(answer.body)")
            #expect(answer.header("Allow") == allowed, "\(method) \(path)")
            #expect(answer.error.code == "method_not_allowed", "\(answer.body)")
            #expect(answer.error.message == "\(path) does not take \(method.rawValue); it takes \(allowed)")
        }
        let unknown = try await Self.send(base + "/v1/nothing", method: .GET)
        #expect(unknown.status == 404 && unknown.error.code == "not_found", "\(unknown.body)")
    }

    /// Bytes that are not HTTP get an OpenAI error envelope, not an empty 400, and the connection closes; a head over
    /// NIO's limits (80 KiB) gets 431.
    @Test(.timeLimit(.minutes(2)))
    func bytesThatAreNotHTTPGetAnEnvelopeAndAHeadTooLargeIs431() async throws {
        let harness = try Self.routerWithKnown("router-unparsed")
        defer { harness.cleanUp() }
        let port = harness.project.routerPort
        let garbage = try Self.exchange(Array("\u{1}\u{2} NOT HTTP\r\n\r\n".utf8), port: port)
        #expect(garbage.hasPrefix("HTTP/1.1 400 "), "\(garbage)")
        #expect(garbage.contains(#""code":"invalid_request""#) && garbage.contains("not valid HTTP/1.1"), "\(garbage)")
        let huge = try Self.exchange(
            Self.post(
                Self.chat("known"), fields: ["Host: localhost", "X-Padding: " + String(repeating: "a", count: 100_000)]),
            port: port)
        #expect(huge.hasPrefix("HTTP/1.1 431 "), "\(huge.prefix(300))")
        #expect(huge.contains(#""code":"request_header_fields_too_large""#), "\(huge.prefix(300))")
        #expect(Self.logLines(harness, "known", containing: "request POST /v1/chat/completions").isEmpty)
    }

    /// Bad bytes that come in a later read, while a stream is answered: NIO's decoder then raises a second kind of
    /// error for every read after the first; the client still gets its stream, then the 400 envelope.
    @Test(.timeLimit(.minutes(2)))
    func badBytesReadWhileAStreamIsAnsweredGetThe400AfterIt() async throws {
        let harness = try Self.routerWithKnown("router-late-garbage", args: ["--tokens", "6", "--token-rate", "10"])
        defer { harness.cleanUp() }
        let connection = try RawConnection(port: harness.project.routerPort)
        defer { connection.close() }
        connection.send(Self.post(Self.chat("known", stream: true)) + Array("\u{1} NOT HTTP\r\n".utf8))
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(150))
            connection.send(Array("more bytes after the bad ones\r\n".utf8))
        }
        let answers = connection.receive().components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(answers.map { String($0.prefix(3)) } == ["200", "400"], "\(answers)")
        #expect(answers.first?.contains("[DONE]") == true, "\(answers)")
        #expect(answers.last?.contains(#""code":"invalid_request""#) == true, "\(answers)")
    }

    /// A router port another program holds is a warning that says so in words; the instances are served.
    @Test(.timeLimit(.minutes(2)))
    func aRouterPortInUseIsAWarningInWords() async throws {
        let harness = try DaemonHarness("router-port-in-use")
        defer { harness.cleanUp() }
        let holder = try LoopbackListener()
        defer { holder.close() }
        try harness.project.write("llama-orch.json", #"{"router": {"listen": "127.0.0.1:\#(holder.port)"}}"#)
        try harness.ok(["daemon", "start"])
        let expected =
            "the router is not served: cannot listen on 127.0.0.1:\(holder.port): Address already in use; set "
            + "router.listen in llama-orch.json to a free HOST:PORT, or router.enabled to false"
        #expect(
            try await DaemonHarness.eventually(.seconds(10)) {
                (try? harness.ok(["daemon", "status"]).stdout.contains(expected)) == true
            }, "\((try? harness.cli(["daemon", "status"]).stdout) ?? "")")
    }

    /// `curl --http2` on an `http://` URL asks to switch to h2c. NIO's parser reads nothing after such a request, so
    /// the switch is declined: the request is answered in HTTP/1.1 with `Connection: close` and the connection
    /// closed, and curl sends its next URL on a new one (it hung until the client idle timeout). `CONNECT` too.
    @Test(.timeLimit(.minutes(2)))
    func aRequestToSwitchProtocolsIsAnsweredAndItsConnectionClosed() async throws {
        let harness = try Self.routerWithKnown("router-upgrade")
        defer { harness.cleanUp() }
        let base = harness.project.routerURL
        var started = ContinuousClock.now
        let curl = try CommandRunner.run("curl", ["-sS", "--http2", "-m", "30", base + "/v1/models", base + "/health"])
        #expect(curl.status == 0, "\(curl.stderr)")
        #expect(ContinuousClock.now - started < .seconds(10), "curl's second URL waited")
        #expect(
            curl.stdout.contains(#""object":"list""#) && curl.stdout.hasSuffix(#"{"status":"ok"}"#), "\(curl.stdout)")

        let upgrade = [
            "Host: localhost", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
            "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA",
        ]
        for request in [
            Self.post(Self.chat("known"), fields: upgrade),
            Array("GET /v1/models HTTP/1.1\r\n".utf8)
                + Array(
                    (upgrade.joined(separator: "\r\n") + "\r\n\r\n").utf8),
        ] {
            started = ContinuousClock.now
            // A second request after it is never read: one answer, then the connection closes.
            let answer = try Self.exchange(request + Self.post(Self.chat("known")), port: harness.project.routerPort)
            #expect(ContinuousClock.now - started < .seconds(5), "the connection stayed open: \(answer)")
            let head = answer.components(separatedBy: "\r\n\r\n")[0].lowercased()
            #expect(head.hasPrefix("http/1.1 200") && head.contains("\r\nconnection: close"), "\(answer)")
            #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "\(answer)")
        }
        // An HTTP/1.0 client that asks to upgrade still gets HTTP/1.0 framing: a stream without chunks.
        let old = try Self.exchange(
            Self.post(
                Self.chat("known", stream: true), version: "1.0",
                fields: ["Host: localhost", "Connection: Upgrade", "Upgrade: h2c"]), port: harness.project.routerPort)
        let oldHead = old.components(separatedBy: "\r\n\r\n")[0].lowercased()
        #expect(oldHead.hasPrefix("http/1.0 200") && !oldHead.contains("transfer-encoding"), "\(old)")
        #expect(old.hasSuffix("data: [DONE]\n\n"), "\(old)")

        started = ContinuousClock.now
        let connect = try Self.exchange(
            Array("CONNECT localhost:80 HTTP/1.1\r\nHost: localhost:80\r\n\r\n".utf8), port: harness.project.routerPort)
        #expect(ContinuousClock.now - started < .seconds(5), "the connection stayed open: \(connect)")
        #expect(connect.hasPrefix("HTTP/1.1 4"), "\(connect)")
        #expect(Self.logLines(harness, "known", containing: "request POST /v1/chat/completions").count == 2)
    }

    /// `daemon stop --keep-instances` leaves the servers running, and a stream in flight through the router would
    /// hold the daemon for as long as it lasts: it gets 10 s to end, then ends with an error event and its request
    /// is cancelled upstream; the server goes on running. A client that does not read holds nothing either (its
    /// connection is closed a second after the cut, whatever it has not taken).
    @Test(.timeLimit(.minutes(2)))
    func aStreamInFlightWhenTheDaemonStopsGetsAGracePeriodThenAnErrorEvent() async throws {
        let harness = try Self.routerWithKnown(
            "router-stop-grace", args: ["--tokens", "600", "--token-rate", "10", "--event-padding", "200000"])
        defer { harness.cleanUp() }
        let pid = try #require(try harness.ps().first { $0.name == "known" }?.pid)
        let request = Self.post(Self.chat("known", stream: true))
        let port = harness.project.routerPort
        // One client reads (on a thread of its own: the read takes seconds), one never does.
        let reading = Task { try await Self.exchangeOnAThread(request, port: port) }
        let stalled = try connectLoopback(port: port, receiveBuffer: 64 << 10)
        defer { close(stalled) }
        #expect(request.withUnsafeBytes { write(stalled, $0.baseAddress, $0.count) } == request.count)
        #expect(
            try await DaemonHarness.eventually(.seconds(10)) {
                Self.logLines(harness, "known", containing: "request POST /v1/chat/completions").count == 2
            }, "the streams never reached the server")
        let started = ContinuousClock.now
        try harness.ok(["daemon", "stop", "--keep-instances", "--timeout", "60"])
        let waited = ContinuousClock.now - started
        let answer = try await reading.value
        #expect(waited >= .seconds(9) && waited < .seconds(20), "the daemon stopped after \(waited)")
        #expect(answer.contains(#""content":"t50 "#), "the stream went on during the grace period")
        #expect(answer.contains("the llama-orch daemon is stopping"), "\(answer.suffix(400))")
        #expect(!answer.contains("[DONE]"))
        #expect(DaemonHarness.isAlive(pid), "the server was kept running")
    }

    /// `exchange` on a thread of its own, for a test that waits on it while it does other things.
    /// `exchange` on a thread, and how long until the connection closed.
    static func timedExchange(_ bytes: [UInt8], port: Int) async throws -> (String, Duration) {
        let started = ContinuousClock.now
        let answer = try await exchangeOnAThread(bytes, port: port)
        return (answer, ContinuousClock.now - started)
    }

    static func exchangeOnAThread(_ bytes: [UInt8], port: Int) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try exchange(bytes, port: port) }) }.start()
        }
    }

    /// A client's connection on which nothing is answered is closed `router.client_idle_timeout` after its last
    /// request part: idle, a head or a body that stops coming, kept alive after its answer (such connections held
    /// the daemon's descriptors for good: 1,100 of them wedged it). One that waits for an answer is not, even
    /// when its stream is silent for longer.
    @Test(.timeLimit(.minutes(2)))
    func aConnectionWithNothingToAnswerIsClosedAfterTheClientIdleTimeout() async throws {
        let harness = try Self.routerWithKnown(
            "router-client-idle", args: ["--tokens", "2", "--token-rate", "0.6"], router: #", "client_idle_timeout": 1"#
        )
        defer { harness.cleanUp() }
        let port = harness.project.routerPort
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n"
        async let idle = Self.timedExchange([], port: port)
        async let partHead = Self.timedExchange(Array(head.utf8), port: port)
        async let partBody = Self.timedExchange(Array((head + "\r\n{\"model\": ").utf8), port: port)
        async let keptAlive = Self.timedExchange(Self.post(Self.chat("known")), port: port)
        async let stream = Self.timedExchange(Self.post(Self.chat("known", stream: true)), port: port)
        for (label, (answer, waited)) in [
            ("idle", try await idle), ("part of a head", try await partHead), ("part of a body", try await partBody),
        ] {
            #expect(answer.isEmpty, "\(label): \(answer)")
            #expect(waited >= .milliseconds(900) && waited < .seconds(5), "\(label): closed after \(waited)")
        }
        let (answer, waited) = try await keptAlive
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        #expect(waited < .seconds(10), "closed after its answer and a second idle, not \(waited)")
        let (events, _) = try await stream
        #expect(events.contains("data: [DONE]"), "a stream silent for 1.7 s between events was cut: \(events)")
    }

    /// A server that goes silent once its stream began is cut off after `router.stream_idle_timeout`: the client
    /// gets an error event that names the setting, and the server's connection is closed (the stub, one event every
    /// 5 s, finds its client gone after its first).
    @Test(.timeLimit(.minutes(2)))
    func aStreamSilentPastTheIdleTimeoutEndsWithAnErrorEvent() async throws {
        let harness = try Self.routerWithKnown(
            "router-idle", args: ["--tokens", "3", "--token-rate", "0.2"], router: #", "stream_idle_timeout": 1"#)
        defer { harness.cleanUp() }
        let started = ContinuousClock.now
        let answer = try Self.exchange(Self.post(Self.chat("known", stream: true)), port: harness.project.routerPort)
        let waited = ContinuousClock.now - started
        #expect(answer.hasPrefix("HTTP/1.1 200") && answer.contains("text/event-stream"), "\(answer.prefix(300))")
        #expect(answer.contains("router.stream_idle_timeout"), "\(answer)")
        #expect(!answer.contains("chat.completion.chunk"), "an event came before the cut: \(answer)")
        #expect(waited >= .seconds(1) && waited < .seconds(4), "cut after \(waited)")
        #expect(
            try await DaemonHarness.eventually(.seconds(10)) {
                !Self.logLines(harness, "known", containing: "stream closed by the client").isEmpty
            }, "the server's connection stayed open")
    }

    /// A client that does not read its stream holds the server back (the router stops reading the server's
    /// connection while the client's is full) instead of taking the answer into memory: the stub's 3,000 events of
    /// 16 KiB (about 49 MB; the sockets between hold about 15 MB) are not all sent while the client reads nothing,
    /// and all arrive once it reads.
    @Test(.timeLimit(.minutes(2)))
    func aClientThatDoesNotReadHoldsTheServerBack() async throws {
        let harness = try Self.routerWithKnown(
            "router-backpressure", args: ["--tokens", "3000", "--event-padding", "16384"])
        defer { harness.cleanUp() }
        let fd = try connectLoopback(port: harness.project.routerPort, receiveBuffer: 64 << 10)
        defer { close(fd) }
        var limit = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let request = Self.post(Self.chat("known", stream: true), fields: ["Host: localhost", "Connection: close"])
        #expect(request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == request.count)
        #expect(
            try await DaemonHarness.eventually(.seconds(10)) {
                !Self.logLines(harness, "known", containing: "request POST /v1/chat/completions").isEmpty
            }, "the request never reached the server")
        try await Task.sleep(for: .seconds(3))
        #expect(
            Self.logLines(harness, "known", containing: "stream done").isEmpty,
            "the server sent its whole answer while the client read nothing: the router took it into memory")

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        let tail = String(decoding: received.suffix(1000), as: UTF8.self)
        #expect(received.count > 40_000_000, "\(received.count) bytes")
        #expect(tail.contains("data: [DONE]"), "\(tail)")
        #expect(String(decoding: received.suffix(20000), as: UTF8.self).contains(#""t2999 x"#))
        #expect(
            try await DaemonHarness.eventually(.seconds(5)) {
                !Self.logLines(harness, "known", containing: "stream done after 3000 events").isEmpty
            })
    }

    /// llama-server keeps its connections to the router alive and closes an idle one after a while: a request sent
    /// on a kept-alive connection just as the server closes it is sent again on a new one, and the client sees
    /// nothing of it (the stub drops every request on a reused connection).
    @Test(.timeLimit(.minutes(2)))
    func aRequestTheServerDropsOnAReusedConnectionIsSentAgain() async throws {
        let harness = try Self.routerWithKnown("router-reuse", args: ["--drop-reused"])
        defer { harness.cleanUp() }
        let chat = harness.project.routerURL + "/v1/chat/completions"
        for _ in 0..<3 {
            let answer = try await Self.send(chat, body: Self.chat("known"))
            #expect(answer.status == 200 && answer.body.contains("chat.completion"), "\(answer.body)")
        }
        #expect(Self.logLines(harness, "known", containing: "dropped a request on a reused connection").count == 2)
        #expect(Self.logLines(harness, "known", containing: "request POST /v1/chat/completions").count == 3)
    }

    /// A client that pipelines: requests the forward path answers (chat, an unknown model) and one the responder
    /// answers (`/v1/models`), sent in one write, are answered in the order sent, and `Connection: close` on the
    /// last closes the connection after its answer.
    @Test(.timeLimit(.minutes(2)))
    func pipelinedRequestsAreAnsweredInOrderWhicheverPathTakesThem() async throws {
        let harness = try Self.routerWithKnown("router-pipelining")
        defer { harness.cleanUp() }

        let requests =
            Self.post(Self.chat("known")) + Array("GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
            + Self.post(Self.chat("ghost"))
            + Self.post(Self.chat("known"), fields: ["Host: localhost", "Connection: close"])
        let answers = try Self.exchange(requests, port: harness.project.routerPort).components(separatedBy: "HTTP/1.1 ")
            .dropFirst()
        #expect(answers.map { String($0.prefix(3)) } == ["200", "200", "404", "200"], "\(answers)")
        let kinds = answers.map { answer in
            answer.contains("chat.completion")
                ? "chat"
                : answer.contains(#""object":"list""#)
                    ? "models"
                    : answer.contains("model_not_found") ? "unknown" : answer
        }
        #expect(kinds == ["chat", "models", "unknown", "chat"], "answered in order, the connection closed after")

        // Bytes that do not parse after complete requests: those are answered first, then the 400, then the close
        // (the second chat was dropped).
        let started = ContinuousClock.now
        let garbled = try Self.exchange(
            Self.post(Self.chat("known")) + Self.post(Self.chat("known")) + Array("\u{1}\u{2} NOT HTTP\r\n\r\n".utf8),
            port: harness.project.routerPort
        ).components(separatedBy: "HTTP/1.1 ").dropFirst()
        #expect(garbled.map { String($0.prefix(3)) } == ["200", "200", "400"], "\(garbled)")
        #expect(garbled.last?.contains(#""code":"invalid_request""#) == true, "an envelope: \(garbled)")
        #expect(garbled.prefix(2).allSatisfy { $0.contains("chat.completion") }, "\(garbled)")
        #expect(ContinuousClock.now - started < .seconds(5), "the connection stayed open")
    }

    /// A key read from a variable the daemon's environment lacks is no key: the router asks for the others, and
    /// with none left it is not served (it would have been open to anyone), each time with a warning naming it.
    @Test(.timeLimit(.minutes(2)))
    func aKeyWhoseVariableIsUnsetIsNoKeyAndWithNoKeyLeftTheRouterIsNotServed() async throws {
        let harness = try DaemonHarness("router-unset-key")
        defer { harness.cleanUp() }
        let variable = "LLAMA_ORCH_TEST_UNSET_KEY"
        let port = harness.project.routerPort
        let warnings = {
            try JSONDecoder.snakeCase.decode(
                DaemonInfo.self, from: Data(try harness.ok(["daemon", "status", "--json"]).stdout.utf8)
            ).warnings
        }
        try harness.project.write(
            "llama-orch.json",
            #"{"router": {"listen": "127.0.0.1:\#(port)", "api_keys": ["sk-test-one", {"env": "\#(variable)"}]}}"#)
        try harness.ok(["daemon", "start"])
        let base = harness.project.routerURL
        #expect(try await Self.send(base + "/v1/models", method: .GET).status == 401, "the other key is asked for")
        let headers = [("Authorization", "Bearer sk-test-one")]
        #expect(try await Self.send(base + "/v1/models", method: .GET, headers: headers).status == 200)
        let partly = try warnings()
        #expect(partly.contains { $0.contains("router.api_keys[1] ($\(variable))") }, "\(partly)")

        try harness.ok(["daemon", "stop"])
        try harness.project.write(
            "llama-orch.json", #"{"router": {"listen": "127.0.0.1:\#(port)", "api_keys": [{"env": "\#(variable)"}]}}"#)
        try harness.ok(["daemon", "start"])
        let refused = try warnings()
        #expect(
            refused.contains { $0.contains("the router is not served") && $0.contains("$\(variable)") }, "\(refused)")
        await #expect(throws: (any Error).self, "nothing listens on the router's port") {
            _ = try await Self.send(base + "/health", method: .GET, timeout: .seconds(5))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func errorsAreOpenAIEnvelopesAndKeysAreChecked() async throws {
        let harness = try DaemonHarness("router-errors")
        defer { harness.cleanUp() }
        try harness.stubInstance(
            "known", port: try LlamaServerProbe.freePort(), args: [],
            extra: #", "router": {"aliases": ["org/known:7b"]}"#)
        try harness.project.write(
            "llama-orch.json",
            #"{"router": {"listen": "127.0.0.1:\#(harness.project.routerPort)", "api_keys": ["sk-test-one", {"env": "ROUTER_KEY"}]}}"#
        )
        try harness.ok(["daemon", "start"], environment: ["ROUTER_KEY": "sk-from-environment"])
        let base = harness.project.routerURL
        let bearer = [("Authorization", "Bearer sk-test-one")]

        #expect(try await Self.send(base + "/health", method: .GET).status == 200, "health needs no key")
        let anonymous = try await Self.send(base + "/v1/models", method: .GET)
        #expect(anonymous.status == 401)
        #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(
            try await Self.send(base + "/v1/models", method: .GET, headers: [("Authorization", "Bearer nope-nope")])
                .status == 401)
        #expect(try await Self.send(base + "/v1/models", method: .GET, headers: bearer).status == 200)
        #expect(
            try await Self.send(base + "/v1/models", method: .GET, headers: [("x-api-key", "sk-from-environment")])
                .status == 200)
        let basic = "Basic " + Data("user:sk-test-one".utf8).base64EncodedString()
        #expect(
            try await Self.send(base + "/v1/models", method: .GET, headers: [("Authorization", basic)]).status == 200)

        let chat = base + "/v1/chat/completions"
        let malformed = try await Self.send(chat, body: Array(#"{"model": "#.utf8), headers: bearer)
        #expect(malformed.status == 400 && malformed.error.code == "invalid_request", "\(malformed.body)")
        let nameless = try await Self.send(chat, body: Array(#"{"messages": []}"#.utf8), headers: bearer)
        #expect(nameless.status == 400 && nameless.error.message?.contains("no model") == true, "\(nameless.body)")
        let unknown = try await Self.send(chat, body: Self.chat("ghost"), headers: bearer)
        #expect(unknown.status == 404 && unknown.error.code == "model_not_found", "\(unknown.body)")
        #expect(unknown.error.message?.contains("known: known") == true, "\(unknown.body)")
        let aliased = try await Self.send(chat, body: Self.chat("org/known:7b"), headers: bearer)
        #expect(aliased.status == 200, "an alias routes: \(aliased.body)")

        let models = try await Self.send(base + "/v1/models", method: .GET, headers: bearer)
        let data = try #require(models.json?["data"] as? [[String: Any]])
        let entry = try #require(data.first { $0["id"] as? String == "known" })
        #expect((entry["status"] as? [String: Any])?["value"] as? String == "loaded")
        #expect(entry["object"] as? String == "model")

        let metrics = try await Self.send(base + "/metrics", method: .GET, headers: bearer).body
        #expect(metrics.contains(#"llama_orch_router_requests_total{model="known",status="200"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"llamacpp:requests_processing{model="known"}"#), "llama-server's series, labelled")
        #expect(metrics.contains("llama_orch_router_time_to_first_byte_seconds_bucket"))
        #expect(metrics.contains(#"llama_orch_router_in_flight_requests{model="known"} 0"#), "\(metrics)")

        try harness.ok(["down", "known"])
        let unloaded = try await Self.send(
            base + "/models/load", body: Array(#"{"model": "known"}"#.utf8), headers: bearer)
        #expect(unloaded.status == 200 && unloaded.body.contains("true"), "\(unloaded.body)")
        #expect(try harness.ps().first { $0.name == "known" }?.state == .healthy)
        let unload = Array(#"{"model": "known"}"#.utf8)
        let byRouter = try await Self.send(base + "/models/unload", body: unload, headers: bearer)
        #expect(byRouter.body.contains("true"), "the router unloads what it started: \(byRouter.body)")
        #expect(try harness.ps().first { $0.name == "known" }?.state == .stopped)
        try harness.ok(["up", "known", "--wait", "--timeout", "30"])
        let byUser = try await Self.send(base + "/models/unload", body: unload, headers: bearer)
        #expect(byUser.body.contains("false"), "an instance started with up stays: \(byUser.body)")
        #expect(try harness.ps().first { $0.name == "known" }?.state == .healthy)
        // Recorded in the store once the log flushes (every second).
        #expect(
            try await DaemonHarness.eventually(.seconds(5)) {
                (try harness.store().routerRequests(since: 0, model: "known")).contains { $0.status == 200 }
            })
    }
}

/// FNV-1a, 64 bits, as the stub computes it.
func fnv1a(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    bytes.withUnsafeBufferPointer { buffer in
        for byte in buffer {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
    }
    return String(hash, radix: 16)
}

/// A connected TCP socket to 127.0.0.1:`port`; `receiveBuffer`: its SO_RCVBUF, set before it connects (a client
/// that does not read fills a small one soon).
/// A client's connection to the router, written and read by hand: requests no HTTP client would send.
struct RawConnection {
    let fd: Int32

    /// Reads give up after `timeout` seconds without a byte.
    init(port: Int, timeout: Int = 20) throws {
        fd = try connectLoopback(port: port)
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends `bytes`; a router that refused the request and closed the connection before it read them all (a
    /// head over its limits) is no failure here: the answer says what happened. (`MSG_NOSIGNAL`: a write to a
    /// closed connection would otherwise kill the test process with SIGPIPE.)
    func send(_ bytes: [UInt8]) {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(sent == bytes.count || errno == EPIPE || errno == ECONNRESET, "sent \(sent) of \(bytes.count)")
    }

    /// What comes until `done` says so, the connection closes or the timeout passes.
    func receive(until done: ((String) -> Bool)? = nil) -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !(done?(String(decoding: received, as: UTF8.self)) ?? false) {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { _ = Glibc.close(fd) }
}

func connectLoopback(port: Int, receiveBuffer: Int32? = nil) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    if var size = receiveBuffer {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    try #require(connected == 0, "cannot connect to port \(port)")
    return fd
}
