import OrchestratorCore

extension InstanceStatus {
    /// `[InstanceStatus]` exactly as `JSONEncoder.control` writes it (pretty-printed, sorted keys, slashes as
    /// they are), written directly: the daemon answers `ps` with every instance, and the generic encoder was a
    /// third of that answer's time. A test holds the two to the same bytes.
    public static func controlJSON(_ list: [InstanceStatus]) -> [UInt8] {
        guard !list.isEmpty else { return Array("[\n\n]".utf8) }
        var out = JSONText()
        out.bytes.reserveCapacity(list.count * 420)
        out.append("[\n")
        for (index, status) in list.enumerated() {
            if index > 0 { out.append(",\n") }
            out.append("  {\n")
            out.first = true
            // Sorted by key, as `.sortedKeys` puts them; absent optionals are left out, as `encodeIfPresent` does.
            out.field("backend", status.backend.map(jsonQuoted))
            out.field("desired_state", jsonQuoted(status.desiredState))
            out.field("devices", status.devices.map(jsonQuoted))
            out.field("health", jsonQuoted(status.health))
            out.field("model", status.model.map(jsonQuoted))
            out.field("name", jsonQuoted(status.name))
            out.field("pid", status.pid.map { "\($0)" })
            out.field("port", status.port.map { "\($0)" })
            out.field("reason", status.reason.map(jsonQuoted))
            out.field("restarts", "\(status.restarts)")
            out.field("since", status.since.flatMap(JSONText.number))
            out.field("started_at", status.startedAt.flatMap(JSONText.number))
            out.field("state", jsonQuoted(status.state))
            out.append("\n  }")
        }
        out.append("\n]")
        return out.bytes
    }
}

/// The pieces of `JSONEncoder.control`'s output that `InstanceStatus.controlJSON` writes.
private struct JSONText {
    var bytes: [UInt8] = []
    var first = true

    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// `    "key" : value` inside an object, when there is a value.
    mutating func field(_ key: String, _ value: String?) {
        guard let value else { return }
        append(first ? "    \"" : ",\n    \"")
        first = false
        append(key)
        append("\" : ")
        append(value)
    }

    /// A number as the encoder writes a Double: its shortest description, without a trailing `.0`. `nil` (the
    /// field left out) for NaN and infinities, which JSON can't hold (the encoder would refuse the whole list).
    static func number(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
