import Foundation
import OrchestratorCore

/// Reads a device inventory file into devices, refusing anything it doesn't understand.
///
/// ```json
/// {"devices": [
///   {"name": "GPU-A", "kind": "discrete", "total_mib": 24576, "free_mib": 24000},
///   {"name": "GPU-B", "kind": "discrete", "total_mib": 12288, "llama_name": "Vulkan1",
///    "pci_bus_id": "0000:2a:00.0"},
///   {"name": "host", "kind": "cpu", "total_mib": 65536}
/// ]}
/// ```
///
/// Each entry has `name` (unique), `kind` (`discrete`, `integrated` or `cpu`) and `total_mib` (a positive
/// integer); optionally `free_mib` (default: `total_mib`), `llama_name` (the `--device` value; default:
/// `name`), `pci_bus_id` and `uuid`. A `cpu` entry stands for host memory: at most one, without
/// `llama_name`. Unknown keys are errors, so a typo (`totl_mib`) can't pass silently.
public enum StaticInventory {
    /// The keys an entry may have.
    static let entryKeys: Set<String> = ["name", "kind", "total_mib", "free_mib", "llama_name", "pci_bus_id", "uuid"]

    /// The devices listed in `file`.
    ///
    /// - Throws: `StaticInventoryError` naming the file and the field (`devices[1].total_mib`).
    public static func load(file: String) throws(StaticInventoryError) -> [Device] {
        // A pipe is read (`--devices-file <(generate-inventory)`, `/dev/stdin`).
        switch FileKind(path: file) {
        case .regular, .special: break
        case .missing: throw StaticInventoryError(file: file, field: nil, problem: "no such file", isMissing: true)
        case .directory: throw StaticInventoryError(file: file, field: nil, problem: "a folder, not an inventory file")
        }
        // Read to its end, not by its size: a pipe has none.
        guard let handle = FileHandle(forReadingAtPath: file), let data = try? handle.readToEnd() ?? Data() else {
            throw StaticInventoryError(file: file, field: nil, problem: "can't read the file (check its permissions)")
        }
        return try parse(data, file: file)
    }

    /// The devices listed in `data`; `file` is only used in error messages.
    public static func parse(_ data: Data, file: String) throws(StaticInventoryError) -> [Device] {
        let root: InventoryValue
        do {
            // The parser instance configs go through: it says where the text goes wrong.
            root = InventoryValue(try JSONParser.parse(Array(data)))
        } catch {
            throw StaticInventoryError(file: file, field: nil, problem: "not valid JSON: \(error)")
        }
        func fail(_ field: String?, _ expected: String, _ got: InventoryValue?) -> StaticInventoryError {
            StaticInventoryError(
                file: file, field: field, problem: "expected \(expected), got \(got?.shortDescription ?? "nothing")")
        }
        guard case .object(let top) = root else { throw fail(nil, "an object with a \"devices\" array", root) }
        if let unknown = top.keys.sorted().first(where: { $0 != "devices" }) {
            throw StaticInventoryError(file: file, field: unknown, problem: "unknown key (known: devices)")
        }
        guard case .array(let entries) = top["devices"] else {
            throw fail("devices", "an array of devices", top["devices"])
        }

        var devices: [Device] = []
        var names: Set<String> = []
        for (index, entry) in entries.enumerated() {
            let path = "devices[\(index)]"
            guard case .object(let fields) = entry else { throw fail(path, "an object", entry) }
            if let unknown = fields.keys.sorted().first(where: { !entryKeys.contains($0) }) {
                throw StaticInventoryError(
                    file: file, field: "\(path).\(unknown)",
                    problem: "unknown key (known: \(entryKeys.sorted().joined(separator: ", ")))")
            }
            func string(_ key: String, required: Bool) throws(StaticInventoryError) -> String? {
                switch fields[key] {
                case .string(let value) where !value.isEmpty: return value
                case nil where !required: return nil
                case let other: throw fail("\(path).\(key)", "a non-empty string", other)
                }
            }
            func mebibytes(_ key: String, minimum: Int64) throws(StaticInventoryError) -> UInt64? {
                switch fields[key] {
                case nil: return nil
                case .integer(let value) where value >= minimum && value <= Int64(UInt64.max >> 20):
                    return UInt64(value) << 20
                case let other:
                    throw fail("\(path).\(key)", minimum > 0 ? "a positive integer" : "a non-negative integer", other)
                }
            }

            guard let name = try string("name", required: true) else { continue }
            guard names.insert(name).inserted else {
                throw StaticInventoryError(file: file, field: "\(path).name", problem: "duplicate name \"\(name)\"")
            }
            let kindText = try string("kind", required: true) ?? ""
            guard let kind = DeviceKind(rawValue: kindText), kind != .virtual else {
                throw fail("\(path).kind", "one of discrete, integrated, cpu", fields["kind"])
            }
            guard let total = try mebibytes("total_mib", minimum: 1) else {
                throw fail("\(path).total_mib", "a positive integer", nil)
            }
            let free = try mebibytes("free_mib", minimum: 0) ?? total
            guard free <= total else {
                throw StaticInventoryError(
                    file: file, field: "\(path).free_mib",
                    problem: "expected at most total_mib (\(total >> 20)), got \(free >> 20)")
            }
            var llamaName = try string("llama_name", required: false)
            if kind == .cpu {
                guard llamaName == nil else {
                    throw StaticInventoryError(
                        file: file, field: "\(path).llama_name",
                        problem: "a cpu entry stands for host memory and has no llama.cpp name")
                }
                guard !devices.contains(where: \.isHost) else {
                    throw StaticInventoryError(
                        file: file, field: "\(path).kind", problem: "only one cpu entry (host memory) is allowed")
                }
            } else {
                llamaName = llamaName ?? name
            }
            let pciBusID = try string("pci_bus_id", required: false)
            let uuid = try string("uuid", required: false)
            devices.append(
                Device(
                    id: kind == .cpu ? "host" : uuid ?? pciBusID ?? "static:\(name)", backend: StaticDriver.name,
                    llamaName: llamaName, description: name, kind: kind, totalBytes: total, freeBytes: free,
                    pciBusID: pciBusID, uuid: uuid, details: ["source": file]))
        }
        return devices
    }
}

/// An inventory file that can't be used: the file, the field (`devices[1].total_mib`) and what is wrong.
public struct StaticInventoryError: OrchestratorError, Equatable {
    /// The inventory file.
    public var file: String
    /// The JSON path of the offending field, or `nil` when the whole file is wrong.
    public var field: String?
    /// What is wrong (`expected a positive integer, got "abc"`).
    public var problem: String
    /// There is no such file (exit 66, not 65).
    public var isMissing = false

    public init(file: String, field: String?, problem: String, isMissing: Bool = false) {
        self.file = file
        self.field = field
        self.problem = problem
        self.isMissing = isMissing
    }

    public var exitCode: OrchestratorExitCode { isMissing ? .notFound : .configInvalid }

    public var description: String { "\(file): " + (field.map { "\($0): " } ?? "") + problem }
}

/// Any JSON value, kept exact enough to tell `24576` from `24576.5`, `"24576"` and `true`.
enum InventoryValue: Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([InventoryValue])
    case object([String: InventoryValue])

    /// A parsed document's value; a number is an integer when its literal is one that fits 64 bits.
    init(_ node: JSONNode) {
        switch node.value {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .string(let value): self = .string(value)
        case .number(let literal): self = Int64(literal).map { .integer($0) } ?? .number(Double(literal) ?? .nan)
        case .array(let elements): self = .array(elements.map(InventoryValue.init))
        case .object(let members):
            // The parser refuses duplicate keys.
            self = .object(
                Dictionary(members.map { ($0.key, InventoryValue($0.node)) }, uniquingKeysWith: { first, _ in first }))
        }
    }

    /// The value as an error message quotes it: `"abc"`, `-3`, `2.5`, `true`, `null`, `an array`.
    var shortDescription: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .string(let value): "\"\(value)\""
        case .array: "an array"
        case .object: "an object"
        }
    }
}
