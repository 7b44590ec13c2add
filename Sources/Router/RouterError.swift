import Foundation

/// An error the router answers itself, as an OpenAI error envelope: `{"error": {"message", "type", "code"}}`.
public struct RouterError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case badRequest(String)
        case unauthorized
        case unknownModel(requested: String, known: [String])
        case tooLarge(limitMB: Int)
        /// A request head over NIO's limits (80 KiB of fields, or too many of them).
        case headTooLarge
        case rejected(LoadScheduler.Rejection)
        case upstream(String)
        case cancelled
        case notFound(String)
        /// A method the path does not take (`DELETE /health`), with those it takes for `Allow`.
        case methodNotAllowed(method: String, path: String, allowed: [String])
        /// A request from a page whose origin `router.cors_origins` does not list.
        case originNotAllowed(String)
        /// A request that names a host the router does not answer to (`Host`; DNS rebinding).
        case hostNotAllowed(String)
    }

    public var kind: Kind
    /// The instance it concerns, if any.
    public var model: String

    public init(_ kind: Kind, model: String = "") {
        self.kind = kind
        self.model = model
    }

    public init(_ rejection: LoadScheduler.Rejection, model: String) {
        self.init(.rejected(rejection), model: model)
    }

    public var status: Int {
        switch kind {
        case .badRequest: 400
        case .unauthorized: 401
        case .originNotAllowed, .hostNotAllowed: 403
        case .unknownModel, .notFound: 404
        case .methodNotAllowed: 405
        case .tooLarge: 413
        case .headTooLarge: 431
        case .upstream: 502
        case .cancelled: 499
        case .rejected(let rejection):
            switch rejection {
            case .unknownModel, .removed: 404
            case .overConcurrency: 429
            case .queueFull, .notOnDemand, .doesNotFit: 503
            case .queueTimeout: 504
            case .loadFailed: 502
            }
        }
    }

    /// OpenAI's `type`.
    public var type: String {
        switch status {
        case 400, 404, 405, 413, 431: "invalid_request_error"
        case 401: "authentication_error"
        case 403: "permission_error"
        case 429: "rate_limit_error"
        case 504: "timeout_error"
        default: "server_error"
        }
    }

    /// A stable machine-readable `code`.
    public var code: String {
        switch kind {
        case .badRequest: "invalid_request"
        case .unauthorized: "invalid_api_key"
        case .unknownModel: "model_not_found"
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .originNotAllowed: "origin_not_allowed"
        case .hostNotAllowed: "host_not_allowed"
        case .tooLarge: "request_too_large"
        case .headTooLarge: "request_header_fields_too_large"
        case .upstream: "upstream_error"
        case .cancelled: "cancelled"
        case .rejected(let rejection):
            switch rejection {
            case .unknownModel, .removed: "model_not_found"
            case .notOnDemand: "model_not_loaded"
            case .overConcurrency: "concurrency_limit"
            case .queueFull: "queue_full"
            case .queueTimeout: "queue_timeout"
            case .loadFailed: "model_load_failed"
            case .doesNotFit: "insufficient_memory"
            }
        }
    }

    public var description: String {
        switch kind {
        case .badRequest(let message): return message
        case .unauthorized:
            return "missing or wrong API key: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'"
        case .unknownModel(let requested, let known):
            let list = known.isEmpty ? "none is configured" : "known: \(known.joined(separator: ", "))"
            return "model '\(requested)' not found; \(list)"
        case .notFound(let path): return "no route for \(path)"
        case .methodNotAllowed(let method, let path, let allowed):
            return "\(path) does not take \(method); it takes \(allowed.joined(separator: ", "))"
        case .originNotAllowed(let origin):
            return
                "pages from \(origin) may not use the router; add the origin to router.cors_origins in llama-orch.json"
        case .hostNotAllowed(let host):
            return
                "the router does not answer to the name '\(host)' (a site could reach it by a name that resolves to "
                + "this machine); add the name to router.allowed_hosts in llama-orch.json"
        case .tooLarge(let limit):
            return "request body over \(limit) MiB; raise router.max_body_mb in llama-orch.json to allow it"
        case .headTooLarge: return "the request's header fields are too large (80 KiB at most, or too many fields)"
        case .upstream(let message): return "model '\(model)': \(message)"
        case .cancelled: return "the client went away"
        case .rejected(let rejection):
            switch rejection {
            case .unknownModel, .removed: return "model '\(model)' is not configured"
            case .notOnDemand:
                return
                    "model '\(model)' is not running and router.on_demand is false; start it with 'llama-orch up \(model)'"
            case .overConcurrency(let limit):
                return
                    "model '\(model)' has \(limit) requests queued or running (router.concurrency_limit); retry later"
            case .queueFull(let limit):
                return "the router's queue is full (\(limit) requests, router.queue_limit); retry later"
            case .queueTimeout(let waited):
                return "model '\(model)' was not ready within \(waited.components.seconds) s (router.queue_timeout)"
            case .loadFailed(let message): return "model '\(model)' failed to load: \(message)"
            case .doesNotFit(let kept):
                let list =
                    kept.isEmpty ? "" : " beside \(kept.joined(separator: ", ")) (keep_loaded or started with up)"
                return "model '\(model)' does not fit in memory\(list); stop one or lower its needs"
            }
        }
    }

    /// The envelope's JSON bytes.
    public var body: Data {
        struct Envelope: Encodable {
            struct Inner: Encodable {
                var message: String
                var type: String
                var code: String
            }
            var error: Inner
        }
        let envelope = Envelope(error: .init(message: description, type: type, code: code))
        // Paths and URLs in messages as written (`/v1/models`, not `\/v1\/models`).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(envelope))
            ?? Data(#"{"error":{"message":"error","type":"server_error"}}"#.utf8)
    }
}
