import Foundation
import HTTPTypes

/// API keys as OpenAI clients and llama-swap send them: `Authorization: Bearer KEY`, `x-api-key: KEY`, or the
/// password of Basic auth. Compared in constant time: every key, every byte.
enum APIKeyCheck {
    static func accepts(_ headers: HTTPFields, keys: [String]) -> Bool {
        var offered: [String] = []
        if let key = headers[HTTPField.Name("x-api-key")!] { offered.append(key) }
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2 {
                let scheme = parts[0].lowercased()
                let value = String(parts[1]).trimmingCharacters(in: .whitespaces)
                if scheme == "bearer" {
                    offered.append(value)
                } else if scheme == "basic", let data = Data(base64Encoded: value),
                    let pair = String(data: data, encoding: .utf8), let colon = pair.firstIndex(of: ":")
                {
                    offered.append(String(pair[pair.index(after: colon)...]))
                }
            }
        }
        var accepted = false
        for candidate in offered {
            for key in keys where equalInConstantTime(Array(candidate.utf8), Array(key.utf8)) { accepted = true }
        }
        return accepted
    }

    /// Whether two byte strings are equal, in a time that depends only on their lengths.
    static func equalInConstantTime(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: left.count ^ right.count)
        let count = max(left.count, right.count)
        for index in 0..<count {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0 && left.count == right.count
    }
}

/// `GET /v1/models`: OpenAI's list, with llama.cpp router mode's `status` and where each model runs.
enum ModelList {
    struct Entry: Encodable {
        struct Status: Encodable {
            var value: String
            var owner: String?
            var inFlight: Int
            var queued: Int
            var unloadAt: Double?

            enum CodingKeys: String, CodingKey {
                case value, owner
                case inFlight = "in_flight"
                case queued
                case unloadAt = "unload_at"
            }
        }
        var id: String
        var object = "model"
        var created = 0
        var ownedBy = "llama-orch"
        var aliases: [String]
        var contextSize: Int
        var status: Status
        var upstream: String

        enum CodingKeys: String, CodingKey {
            case id, object, created
            case ownedBy = "owned_by"
            case aliases
            case contextSize = "context_size"
            case status, upstream
        }
    }

    struct List: Encodable {
        var object = "list"
        var data: [Entry]
    }

    static func json(_ statuses: [RouterService.ModelStatus]) -> String {
        let entries = statuses.filter(\.model.listed).map { status in
            Entry(
                id: status.model.name, aliases: status.model.aliases, contextSize: status.model.contextSize,
                status: .init(
                    value: status.phase.statusValue,
                    owner: status.phase == .loaded || status.phase == .loading ? status.owner.rawValue : nil,
                    inFlight: status.inFlight, queued: status.queued, unloadAt: status.unloadAt),
                upstream: "\(status.model.host):\(status.model.port)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(List(data: entries))).map { String(decoding: $0, as: UTF8.self) }
            ?? #"{"object":"list","data":[]}"#
    }
}

/// llama-server's own `/metrics` of every loaded instance, merged into one exposition with a `model` label:
/// each family's `HELP` and `TYPE` once, then its samples from every instance.
struct PrometheusMerge {
    private var order: [String] = []
    private var headers: [String: [String]] = [:]
    private var samples: [String: [String]] = [:]

    mutating func add(_ text: String, model: String) {
        let label =
            "model=\"\(model.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("#") {
                let words = line.split(separator: " ", maxSplits: 3)
                guard words.count >= 3, words[1] == "HELP" || words[1] == "TYPE" else { continue }
                let family = String(words[2])
                note(family)
                if !(headers[family] ?? []).contains(where: { $0.hasPrefix("# \(words[1]) ") }) {
                    headers[family, default: []].append(String(line))
                }
                continue
            }
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " } ?? line.endIndex
            let name = String(line[..<nameEnd])
            let family = order.last { name.hasPrefix($0) } ?? name
            note(family)
            let rest = line[nameEnd...]
            let sample: String
            if rest.hasPrefix("{") {
                sample = name + "{" + label + (rest.dropFirst().hasPrefix("}") ? "" : ",") + rest.dropFirst()
            } else {
                sample = name + "{" + label + "}" + rest
            }
            samples[family, default: []].append(sample)
        }
    }

    private mutating func note(_ family: String) {
        if headers[family] == nil && samples[family] == nil { order.append(family) }
        if headers[family] == nil { headers[family] = [] }
    }

    var text: String {
        var lines: [String] = []
        for family in order {
            lines += headers[family] ?? []
            lines += samples[family] ?? []
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }
}
