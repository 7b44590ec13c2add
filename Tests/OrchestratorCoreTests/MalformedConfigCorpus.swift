import OrchestratorCore
import Testing

/// A config that must be refused, the JSON path its error must name, and what the JSON Schema alone
/// says of it (rules across fields and files on disk are beyond a schema).
struct MalformedConfig: Sendable, CustomTestStringConvertible {
    var label: String
    var bytes: [UInt8]
    var path: String
    var fragment: String
    var schemaRejects: Bool

    init(_ label: String, _ text: String, path: String, _ fragment: String, schemaRejects: Bool = true) {
        self.init(label, bytes: Array(text.utf8), path: path, fragment, schemaRejects: schemaRejects)
    }

    init(_ label: String, bytes: [UInt8], path: String, _ fragment: String, schemaRejects: Bool = true) {
        self.label = label
        self.bytes = bytes
        self.path = path
        self.fragment = fragment
        self.schemaRejects = schemaRejects
    }

    var testDescription: String { label }
}

/// A valid config for instance `t`, with `extra` spliced into the top-level object and `server`/`model`
/// replaceable.
func config(
    name: String = "\"t\"", model: String = #"{"path": "../../models/tiny.gguf"}"#,
    server: String = #"{"port": 8001}"#, extra: String = ""
) -> String {
    #"{"name": \#(name), "model": \#(model), "server": \#(server)\#(extra.isEmpty ? "" : ", " + extra)}"#
}

let malformedConfigs: [MalformedConfig] = [
    MalformedConfig("empty file", "", path: "", "empty"),
    MalformedConfig("only whitespace", "  \n\t ", path: "", "only whitespace"),
    MalformedConfig("byte-order mark", bytes: [0xEF, 0xBB, 0xBF] + Array(config().utf8), path: "", "byte-order mark"),
    MalformedConfig(
        "invalid UTF-8", bytes: Array(#"{"name": "t"#.utf8) + [0xC3, 0x28] + Array(#"", "x": 1}"#.utf8), path: "",
        "invalid UTF-8"),
    MalformedConfig("trailing comma", "{\"name\": \"t\",\n}", path: "", "trailing comma"),
    MalformedConfig("top-level array", "[1, 2]", path: "", "expected a JSON object"),
    MalformedConfig("single quotes", "{'name': 't'}", path: "", "expected a key"),
    MalformedConfig("comment", "// hi\n" + config(), path: "", "comments"),
    MalformedConfig("unterminated", #"{"name": "t", "model": {"#, path: "", "end of file"),
    MalformedConfig(
        "duplicate key", #"{"name": "t", "name": "t", "model": {"path": "x"}, "server": {"port": 8001}}"#, path: "",
        "duplicate key", schemaRejects: false),
    MalformedConfig(
        "deep nesting",
        config(extra: #""tags": "# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100)),
        path: "", "nesting"),
    MalformedConfig(
        "missing name", #"{"model": {"path": "../../models/tiny.gguf"}, "server": {"port": 8001}}"#, path: "name",
        "missing required key"),
    MalformedConfig("name is a number", config(name: "7"), path: "name", "found a number"),
    MalformedConfig(
        "name differs from folder", config(name: "\"other\""), path: "name", "folder name", schemaRejects: false),
    MalformedConfig("name with capitals", config(name: "\"Tiny\""), path: "name", "expected"),
    MalformedConfig("name leaves instances/", config(name: "\"../../etc\""), path: "name", "expected"),
    MalformedConfig(
        "missing model", #"{"name": "t", "server": {"port": 8001}}"#, path: "model", "missing required key"),
    MalformedConfig("model is a string", config(model: "\"m.gguf\""), path: "model", "expected an object"),
    MalformedConfig("model.path missing", config(model: #"{"context_size": 4096}"#), path: "model.path", "missing"),
    MalformedConfig(
        "model file missing", config(model: #"{"path": "../../models/nope.gguf"}"#), path: "model.path", "no file",
        schemaRejects: false),
    MalformedConfig(
        "model path is a folder", config(model: #"{"path": "../../models"}"#), path: "model.path", "a folder",
        schemaRejects: false),
    MalformedConfig(
        "model path is a FIFO (reading it would wait for a writer)",
        config(model: #"{"path": "../../models/pipe.gguf"}"#),
        path: "model.path", "a FIFO", schemaRejects: false),
    MalformedConfig(
        "model is not GGUF", config(model: #"{"path": "../../models/notes.txt"}"#), path: "model.path",
        "does not start with 'GGUF'", schemaRejects: false),
    MalformedConfig(
        "context too small", config(model: #"{"path": "../../models/tiny.gguf", "context_size": 100}"#),
        path: "model.context_size", "from 256 to 1048576"),
    MalformedConfig(
        "context beyond any integer",
        config(model: #"{"path": "../../models/tiny.gguf", "context_size": 99999999999999999999999}"#),
        path: "model.context_size", "too large"),
    MalformedConfig(
        "context beyond any number", config(model: #"{"path": "../../models/tiny.gguf", "context_size": 1e400}"#),
        path: "model.context_size", "too large"),
    MalformedConfig(
        "context with a fraction", config(model: #"{"path": "../../models/tiny.gguf", "context_size": 4096.5}"#),
        path: "model.context_size", "not a whole number"),
    MalformedConfig(
        "unknown cache type", config(model: #"{"path": "../../models/tiny.gguf", "cache_type_k": "q3"}"#),
        path: "model.cache_type_k", "expected one of"),
    MalformedConfig(
        "flash attention as bool", config(model: #"{"path": "../../models/tiny.gguf", "flash_attention": true}"#),
        path: "model.flash_attention", "found a boolean"),
    MalformedConfig(
        "ubatch above batch",
        config(model: #"{"path": "../../models/tiny.gguf", "batch_size": 256, "ubatch_size": 512}"#),
        path: "model.ubatch_size", "at most batch_size", schemaRejects: false),
    MalformedConfig(
        "quantized V without flash attention",
        config(model: #"{"path": "../../models/tiny.gguf", "cache_type_v": "q8_0", "flash_attention": "off"}"#),
        path: "model.cache_type_v", "needs flash attention", schemaRejects: false),
    MalformedConfig(
        "missing server", #"{"name": "t", "model": {"path": "../../models/tiny.gguf"}}"#, path: "server", "missing"),
    MalformedConfig("privileged port", config(server: #"{"port": 80}"#), path: "server.port", "from 1024 to 65535"),
    MalformedConfig("port as string", config(server: #"{"port": "8001"}"#), path: "server.port", "found a string"),
    MalformedConfig("port missing", config(server: #"{"host": "127.0.0.1"}"#), path: "server.port", "missing"),
    MalformedConfig(
        "zero slots", config(server: #"{"port": 8001, "parallel": 0}"#), path: "server.parallel", "from 1 to 256"),
    MalformedConfig("unknown top-level key", config(extra: #""modle": {}"#), path: "modle", "did you mean \"model\""),
    MalformedConfig(
        "unknown nested key", config(server: #"{"port": 8001, "prot": 1}"#), path: "server.prot",
        "did you mean \"port\""),
    MalformedConfig(
        "unknown backend", config(extra: #""gpu": {"backend": "vulkn"}"#), path: "gpu.backend",
        "did you mean \"vulkan\""),
    MalformedConfig("layers word", config(extra: #""gpu": {"layers": "most"}"#), path: "gpu.layers", "\"auto\""),
    MalformedConfig("negative layers", config(extra: #""gpu": {"layers": -1}"#), path: "gpu.layers", "from 0"),
    MalformedConfig(
        "device_id and devices", config(extra: #""gpu": {"device_id": 0, "devices": [1]}"#), path: "gpu.devices",
        "not both",
        schemaRejects: false),
    MalformedConfig(
        "zero interval", config(extra: #""healthcheck": {"interval": 0}"#), path: "healthcheck.interval",
        "greater than 0"),
    MalformedConfig(
        "unknown checker", config(extra: #""healthcheck": {"type": "grpc"}"#), path: "healthcheck.type",
        "expected one of"),
    MalformedConfig(
        "retries beyond any number", config(extra: #""healthcheck": {"retries": 1e999}"#), path: "healthcheck.retries",
        "too large"),
    MalformedConfig(
        "unknown policy", config(extra: #""restart_policy": {"type": "sometimes"}"#), path: "restart_policy.type",
        "expected one of"),
    MalformedConfig(
        "jitter above 1", config(extra: #""restart_policy": {"jitter": 1.5}"#), path: "restart_policy.jitter",
        "from 0 to 1"),
    MalformedConfig(
        "jitter below any number", config(extra: #""restart_policy": {"jitter": 1e-400}"#),
        path: "restart_policy.jitter", "too small", schemaRejects: false),
    MalformedConfig(
        "enabled as string", config(extra: #""restart_policy": {"enabled": "yes"}"#), path: "restart_policy.enabled",
        "true or false"),
    MalformedConfig(
        "enabled false with a policy", config(extra: #""restart_policy": {"enabled": false, "type": "always"}"#),
        path: "restart_policy.enabled", "remove one", schemaRejects: false),
    MalformedConfig(
        "first delay above cap", config(extra: #""restart_policy": {"initial_delay": 10, "max_delay": 5}"#),
        path: "restart_policy.initial_delay", "at most max_delay", schemaRejects: false),
    MalformedConfig("env value number", config(extra: #""env": {"FOO": 1}"#), path: "env.FOO", "found a number"),
    MalformedConfig(
        "env name with =", config(extra: #""env": {"A=B": "1"}"#), path: "env.A=B", "can't contain '='"),
    MalformedConfig("args not an array", config(extra: #""args": "--verbose""#), path: "args", "an array of strings"),
    MalformedConfig("args element number", config(extra: #""args": ["--verbose", 3]"#), path: "args[1]", "a string"),
    MalformedConfig("tags as string", config(extra: #""tags": "chat""#), path: "tags", "an array"),
    MalformedConfig("zero log size", config(extra: #""logs": {"max_size_mb": 0}"#), path: "logs.max_size_mb", "from 1"),
    MalformedConfig(
        "binary missing", config(extra: #""binary": {"path": "../../bin/nope"}"#), path: "binary.path",
        "found no file", schemaRejects: false),
    MalformedConfig(
        "binary is a folder", config(extra: #""binary": {"path": "../../models"}"#), path: "binary.path",
        "found a folder", schemaRejects: false),
    MalformedConfig(
        "binary is not executable", config(extra: #""binary": {"path": "../../models/notes.txt"}"#),
        path: "binary.path", "not executable", schemaRejects: false),
]
