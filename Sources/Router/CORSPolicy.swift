import HTTPTypes

/// Which web pages may use the router from a browser (`router.cors_origins`): a page's scripts can read an answer
/// only when it names the page's origin in `Access-Control-Allow-Origin`, and send a JSON body or a key only after
/// a preflight (`OPTIONS` with `Access-Control-Request-Method`) allows it. A request from a page not allowed (its
/// `Origin`) is refused with 403 whatever it is: a form or a `text/plain` POST needs no preflight.
///
/// Each entry is an origin (`http://localhost:3000`), an origin with any port (`http://localhost:*`, which also
/// takes the origin without a port), or `*` (any page on the web: with no `api_keys`, any site the user visits
/// could use the models). llama-server's own CORS headers, which allow every origin, are not relayed: this policy
/// replaces them.
public struct CORSPolicy: Sendable, Equatable {
    public var origins: [String]

    public init(origins: [String]) {
        self.origins = origins
    }

    /// Whether pages of `origin` may use the router.
    public func allows(_ origin: String) -> Bool {
        origins.contains { entry in
            if entry == "*" || entry == origin { return true }
            guard entry.hasSuffix(":*") else { return false }
            let base = entry.dropLast(2)
            guard origin.hasPrefix(base) else { return false }
            let rest = origin.dropFirst(base.count)
            let port = rest.dropFirst()
            return rest.isEmpty || (rest.first == ":" && !port.isEmpty && port.allSatisfy { ("0"..."9").contains($0) })
        }
    }

    /// The fields that let a page of `origin` read an answer; none when there is no origin or it is not allowed.
    func answerFields(origin: String?) -> [HTTPField] {
        guard let origin, allows(origin) else { return [] }
        return [HTTPField(name: .accessControlAllowOrigin, value: origin), HTTPField(name: .vary, value: "Origin")]
    }

    /// Whether a request is a browser's preflight.
    static func isPreflight(_ request: HTTPRequest) -> Bool {
        request.method == .options && request.headerFields[.origin] != nil
            && request.headerFields[.accessControlRequestMethod] != nil
    }

    /// The answer to a preflight: 204 with what the page asked to send, or 403 when its origin is not allowed.
    func preflight(_ fields: HTTPFields) -> Result<HTTPResponse, RouterError> {
        let origin = fields[.origin] ?? ""
        guard allows(origin) else { return .failure(RouterError(.originNotAllowed(origin))) }
        var head = HTTPResponse(status: .noContent)
        head.headerFields.append(contentsOf: answerFields(origin: origin))
        head.headerFields[.accessControlAllowMethods] = fields[.accessControlRequestMethod]
        if let headers = fields[.accessControlRequestHeaders] {
            head.headerFields[.accessControlAllowHeaders] = headers
        }
        head.headerFields[.accessControlMaxAge] = "600"
        return .success(head)
    }

    /// Response fields of llama-server's own CORS answer, not relayed.
    static let serverFields: Set<String> = [
        "access-control-allow-origin", "access-control-allow-credentials", "access-control-allow-methods",
        "access-control-allow-headers", "access-control-expose-headers", "access-control-max-age",
    ]
}
