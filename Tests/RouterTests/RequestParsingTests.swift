import Foundation
import HTTPTypes
import NIOCore
import OrchestratorCore
import Testing

@testable import Router

/// The router's parsing of what clients send: the model in a body, a multipart form, keys; and what it sends back.
struct RequestParsingTests {
    func model(_ json: String) throws(RouterError) -> String? {
        try RequestModel.fromJSON(ByteBuffer(string: json))
    }

    @Test func theTopLevelModelIsFoundWhereverItIs() throws {
        #expect(try model(#"{"model": "qwen"}"#) == "qwen")
        #expect(try model(#"{"messages": [{"role": "user", "model": "inner"}], "model": "outer"}"#) == "outer")
        #expect(try model(#"{"stream": true, "n": 1.5e3, "x": null, "y": false, "model":"a"}"#) == "a")
        #expect(try model(#"{"model": "org\/m:7b"}"#) == "org/m:7b", "an escaped slash")
        #expect(try model(#"{"model": "caf\u00e9"}"#) == "café")
        #expect(try model(#"{"messages": []}"#) == nil)
        #expect(try model(" { } ") == nil)
        // A long string with escaped quotes and backslashes before the key: skipped, not parsed.
        let long = String(repeating: #"ab\"c\\"#, count: 100_000)
        #expect(try model(#"{"prompt": "\#(long)", "model": "after"}"#) == "after")
    }

    @Test func bodiesThatAreNotOneJSONObjectAreRefused() {
        for bad in [
            "", "[]", #"{"model": "#, #"{"model": "a""#, #"{"model" "a"}"#, #"{"a": tru}"#, #"{"a": 1} x"#,
            #"{"a": "unterminated}"#, "{\"a\u{01}\": 1}",
        ] {
            #expect(throws: RouterError.self, "\(bad)") { try model(bad) }
        }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: RouterError.self) { try model(#"{"a": \#(deep)}"#) }
    }

    @Test func theModelFieldOfAMultipartForm() {
        let body =
            "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF....\r\n"
            + "--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-small\r\n--XyZ--\r\n"
        let found = RequestModel.fromMultipart(
            ByteBuffer(string: body), contentType: "multipart/form-data; boundary=XyZ")
        #expect(found == "whisper-small")
        #expect(RequestModel.fromMultipart(ByteBuffer(string: body), contentType: "multipart/form-data") == nil)
    }

    @Test func keysAreAcceptedAsBearerXAPIKeyOrBasicPassword() {
        let keys = ["sk-one-1234", "sk-two-5678"]
        func accepts(_ name: HTTPField.Name, _ value: String) -> Bool {
            var fields = HTTPFields()
            fields[name] = value
            return APIKeyCheck.accepts(fields, keys: keys)
        }
        #expect(accepts(.authorization, "Bearer sk-two-5678"))
        #expect(accepts(.authorization, "bearer sk-one-1234"))
        #expect(accepts(HTTPField.Name("x-api-key")!, "sk-one-1234"))
        #expect(accepts(.authorization, "Basic " + Data("anyone:sk-one-1234".utf8).base64EncodedString()))
        #expect(!accepts(.authorization, "Bearer sk-one-123"))
        #expect(!accepts(.authorization, "Bearer sk-one-12345"))
        #expect(!accepts(.authorization, "Basic " + Data("sk-one-1234:".utf8).base64EncodedString()))
        #expect(!APIKeyCheck.accepts(HTTPFields(), keys: keys))
        #expect(APIKeyCheck.equalInConstantTime(Array("abc".utf8), Array("abc".utf8)))
        #expect(!APIKeyCheck.equalInConstantTime(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!APIKeyCheck.equalInConstantTime([], Array("a".utf8)))
    }

    @Test func tokenCountsComeFromUsageOrTimingsAtTheEnd() {
        var usage = Usage()
        usage.scan(ByteBuffer(string: #"data: {"choices":[{"delta":{"content":"x"}}]}"#))
        usage.scan(ByteBuffer(string: #"data: {"usage":{"prompt_tokens":12,"completion_tokens": 34}}"#))
        usage.parse()
        #expect(usage.prompt == 12 && usage.completion == 34)
        var timings = Usage()
        timings.scan(ByteBuffer(string: #"{"content":"a","timings":{"prompt_n":5,"predicted_n":7}}"#))
        timings.parse()
        #expect(timings.prompt == 5 && timings.completion == 7)
        var none = Usage()
        none.scan(ByteBuffer(string: String(repeating: "z", count: 20_000)))
        none.parse()
        #expect(none.prompt == nil && none.completion == nil)
    }

    @Test func llamaServerSeriesAreMergedWithAModelLabel() {
        var merge = PrometheusMerge()
        let exposition = """
            # HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
            # TYPE llamacpp:prompt_tokens_total counter
            llamacpp:prompt_tokens_total 10
            # HELP llamacpp:requests_processing Number of requests processing.
            # TYPE llamacpp:requests_processing gauge
            llamacpp:requests_processing{slot="0"} 1
            """
        merge.add(exposition, model: "a")
        merge.add(exposition.replacingOccurrences(of: " 10", with: " 20"), model: "b\"q")
        let lines = merge.text.split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("# TYPE llamacpp:prompt_tokens_total") }.count == 1, "one TYPE per family")
        #expect(lines.contains(#"llamacpp:prompt_tokens_total{model="a"} 10"#))
        #expect(lines.contains(#"llamacpp:prompt_tokens_total{model="b\"q"} 20"#), "quotes escaped")
        #expect(lines.contains(#"llamacpp:requests_processing{model="a",slot="0"} 1"#))
        let family = lines.firstIndex { $0.hasPrefix("# TYPE llamacpp:requests_processing") }!
        let samples = lines.indices.filter { lines[$0].hasPrefix("llamacpp:requests_processing{") }
        #expect(samples.allSatisfy { $0 > family }, "samples follow their family's header")
    }

    @Test func errorsAreOpenAIEnvelopesWithTheirStatus() throws {
        let cases: [(RouterError, Int, String)] = [
            (RouterError(.badRequest("bad")), 400, "invalid_request"),
            (RouterError(.unknownModel(requested: "x", known: ["a"])), 404, "model_not_found"),
            (RouterError(.tooLarge(limitMB: 32)), 413, "request_too_large"),
            (RouterError(.overConcurrency(limit: 4), model: "a"), 429, "concurrency_limit"),
            (RouterError(.queueFull(limit: 512), model: "a"), 503, "queue_full"),
            (RouterError(.queueTimeout(waited: .seconds(300)), model: "a"), 504, "queue_timeout"),
            (RouterError(.loadFailed("exit 1"), model: "a"), 502, "model_load_failed"),
            (RouterError(.doesNotFit(keptResident: ["k"]), model: "a"), 503, "insufficient_memory"),
            (RouterError(.unauthorized), 401, "invalid_api_key"),
            (RouterError(.originNotAllowed("https://a.example")), 403, "origin_not_allowed"),
            (RouterError(.hostNotAllowed("a.example")), 403, "host_not_allowed"),
        ]
        for (error, status, code) in cases {
            #expect(error.status == status)
            let json = try #require(try JSONSerialization.jsonObject(with: error.body) as? [String: Any])
            let inner = try #require(json["error"] as? [String: Any])
            #expect(inner["code"] as? String == code)
            #expect((inner["message"] as? String)?.isEmpty == false)
            #expect(inner["type"] is String)
        }
    }

    @Test func theProjectFileIsValidatedWithPaths() {
        func issues(_ json: String) -> [String] {
            ProjectSettings.validate(bytes: Array(json.utf8), file: "llama-orch.json").issues.map(\.description)
        }
        #expect(issues(#"{"router": {"listen": "127.0.0.1:9000", "api_keys": ["sk-12345678", {"env": "K"}]}}"#).isEmpty)
        #expect(issues(#"{"router": {"lisen": "x"}}"#).first?.contains(#"did you mean "listen""#) == true)
        #expect(issues(#"{"router": {"listen": "127.0.0.1:99999"}}"#).first?.hasPrefix("router.listen") == true)
        let open = issues(#"{"router": {"listen": "0.0.0.0:8080"}}"#)
        #expect(open.first?.contains("not a loopback address") == true, "\(open)")
        #expect(issues(#"{"router": {"listen": "0.0.0.0:8080", "api_keys": ["sk-12345678"]}}"#).isEmpty)
        #expect(issues(#"{"router": {"listen": "0.0.0.0:8080", "allow_unauthenticated": true}}"#).isEmpty)
        #expect(issues(#"{"router": {"queue_limit": 0}}"#).first?.hasPrefix("router.queue_limit") == true)
        #expect(issues(#"{"router": {"api_keys": ["short"]}}"#).first?.hasPrefix("router.api_keys[0]") == true)
        #expect(issues("[1]").first?.contains("expected a JSON object") == true)
        let settings = ProjectSettings.validate(bytes: Array("{}".utf8), file: "f").settings
        #expect(settings?.router.listen == "127.0.0.1:8080" && settings?.router.maxBodyMB == 32)
        #expect(settings?.router.queueLimit == 512 && settings?.router.queueTimeout == 300)
        #expect(settings?.router.corsOrigins.contains("http://localhost:*") == true)
        #expect(issues(#"{"router": {"cors_origins": ["*", "http://a.example:3000", "app://x"]}}"#).isEmpty)
        let path = issues(#"{"router": {"cors_origins": ["http://a.example/page"]}}"#)
        #expect(path.first?.hasPrefix("router.cors_origins[0]") == true, "\(path)")
        #expect(settings?.router.allowedHosts == [])
        #expect(issues(#"{"router": {"allowed_hosts": ["*", "llm.lan", ".home.arpa", "box"]}}"#).isEmpty)
        let host = issues(#"{"router": {"allowed_hosts": ["llm.lan", "http://llm.lan"]}}"#)
        #expect(host.first?.hasPrefix("router.allowed_hosts[1]") == true, "\(host)")
    }

    @Test func aLoopbackRouterAnswersToThisMachinesNamesAndTheAllowedOnes() {
        let local = HostPolicy(names: [], listeningOn: "127.0.0.1")
        for authority in [
            nil, "", "localhost", "localhost:8080", "LOCALHOST:8080", "app.localhost:3000", "localhost.", "127.0.0.1",
            "127.0.0.1:8080", "[::1]:8080", "192.168.1.20:8080",
        ] as [String?] {
            #expect(local.allows(authority), "\(authority ?? "nil")")
        }
        for authority in [
            "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io:8080", "router",
            "llm.lan",
        ] {
            #expect(!local.allows(authority), "\(authority)")
        }
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let machine = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(local.allows(machine.uppercased() + ":8080"), "this machine's name, \(machine)")

        let listed = HostPolicy(names: ["llm.lan", ".home.arpa"], listeningOn: "::1")
        for authority in ["llm.lan:8080", "LLM.LAN", "home.arpa", "box.home.arpa:8080"] {
            #expect(listed.allows(authority), "\(authority)")
        }
        for authority in ["a.llm.lan", "llm.lan.example", "xhome.arpa", "evil.example"] {
            #expect(!listed.allows(authority), "\(authority)")
        }
        #expect(HostPolicy(names: ["*"], listeningOn: "127.0.0.1").allows("evil.example"))
        // On the network the policy does not apply (keys are required there).
        #expect(HostPolicy(names: [], listeningOn: "0.0.0.0").allows("evil.example"))
    }

    @Test func corsOriginsMatchWholeOriginsAndPortsOnlyWhereAStarSaysSo() {
        let local = CORSPolicy(origins: ProjectSettings.Router.localOrigins)
        for origin in ["http://localhost", "http://localhost:5173", "https://127.0.0.1:8443", "http://[::1]:3000"] {
            #expect(local.allows(origin), "\(origin)")
        }
        for origin in [
            "https://evil.example", "http://localhost.evil.example", "http://localhost:80.evil.example",
            "http://localhost:", "null", "http://127.0.0.1.nip.io:8080",
        ] {
            #expect(!local.allows(origin), "\(origin)")
        }
        let one = CORSPolicy(origins: ["https://chat.example"])
        #expect(one.allows("https://chat.example") && !one.allows("https://chat.example:444"))
        #expect(!one.allows("http://chat.example"))
        #expect(CORSPolicy(origins: ["*"]).allows("https://anything.example"))
        #expect(CORSPolicy(origins: []).answerFields(origin: "http://localhost").isEmpty)
        #expect(local.answerFields(origin: nil).isEmpty)
        let fields = HTTPFields(local.answerFields(origin: "http://localhost:1"))
        #expect(fields[.accessControlAllowOrigin] == "http://localhost:1" && fields[.vary] == "Origin")
    }
}
