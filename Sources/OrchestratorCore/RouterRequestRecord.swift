/// One request the router proxied, as kept in the state store.
public struct RouterRequestRecord: Sendable, Equatable, Codable {
    /// Seconds since 1970 when it arrived.
    public var time: Double
    public var model: String
    public var path: String
    public var status: Int
    public var promptTokens: Int?
    public var completionTokens: Int?
    /// Seconds to the first byte of the answer.
    public var timeToFirstByte: Double?
    public var duration: Double

    public init(
        time: Double, model: String, path: String, status: Int, promptTokens: Int? = nil,
        completionTokens: Int? = nil, timeToFirstByte: Double? = nil, duration: Double
    ) {
        self.time = time
        self.model = model
        self.path = path
        self.status = status
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.timeToFirstByte = timeToFirstByte
        self.duration = duration
    }
}

/// What the router served for one model over a recent window: the dashboard's requests and tokens per second.
public struct RouterTraffic: Sendable, Equatable, Codable {
    /// The window's length, seconds.
    public var window: Double
    public var requests: Int
    /// Answers with a status of 500 or more.
    public var errors: Int
    public var promptTokens: Int
    public var completionTokens: Int

    public init(window: Double, requests: Int, errors: Int = 0, promptTokens: Int = 0, completionTokens: Int = 0) {
        self.window = window
        self.requests = requests
        self.errors = errors
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    public var requestsPerSecond: Double { window > 0 ? Double(requests) / window : 0 }
    /// Generated tokens per second over the window.
    public var tokensPerSecond: Double { window > 0 ? Double(completionTokens) / window : 0 }
}
