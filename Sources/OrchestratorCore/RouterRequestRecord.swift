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
