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
            out.field("backend", status.backend.map(JSONText.string))
            out.field("desired_state", JSONText.string(status.desiredState))
            out.field("devices", status.devices.map(JSONText.string))
            out.field("health", JSONText.string(status.health))
            out.field("model", status.model.map(JSONText.string))
            out.field("name", JSONText.string(status.name))
            out.field("pid", status.pid.map { "\($0)" })
            out.field("port", status.port.map { "\($0)" })
            out.field("reason", status.reason.map(JSONText.string))
            out.field("restarts", "\(status.restarts)")
            out.field("since", status.since.flatMap(JSONText.number))
            out.field("started_at", status.startedAt.flatMap(JSONText.number))
            out.field("state", JSONText.string(status.state))
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

    /// A string literal: `"` and `\` escaped, control characters as `\n`, `\t`... or `\u00XX`; everything else
    /// (slashes, DEL, non-ASCII) as it is.
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00..<0x10: out += "\\u000" + String(scalar.value, radix: 16)
            case 0x10..<0x20: out += "\\u001" + String(scalar.value - 0x10, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A number as the encoder writes a Double: its shortest description, without a trailing `.0`. `nil` (the
    /// field left out) for NaN and infinities, which JSON can't hold (the encoder would refuse the whole list).
    static func number(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
