import Foundation

/// The JSON Schema (draft 2020-12) of instance configs, generated from `ConfigSpec` with the names the
/// registries hold, as `llama-orch config schema` prints it.
public enum ConfigSchema {
    /// The schema as a JSON object tree, ready for `JSONSerialization`.
    public static func document(knownNames: KnownNames) -> [String: Any] {
        var schema = objectSchema(ConfigSpec.fields, knownNames)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = "https://llama-orch.invalid/schema/instance-config.json"
        schema["title"] = "llama-orch instance config (instances/<name>/config.json)"
        return schema
    }

    /// The schema of the project file, `llama-orch.json`, from `ProjectSpec`.
    public static func projectDocument() -> [String: Any] {
        var schema = objectSchema(ProjectSpec.fields, KnownNames(backends: []))
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = "https://llama-orch.invalid/schema/project.json"
        schema["title"] = "llama-orch project settings (llama-orch.json at the project root)"
        return schema
    }

    /// The schema as pretty-printed JSON text with sorted keys: the instance config's, or with `project` the
    /// project file's.
    public static func text(knownNames: KnownNames, project: Bool = false) -> String {
        let data = try! JSONSerialization.data(
            withJSONObject: project ? projectDocument() : document(knownNames: knownNames),
            options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    private static func objectSchema(_ fields: [ConfigField], _ knownNames: KnownNames) -> [String: Any] {
        var properties: [String: Any] = [:]
        for field in fields {
            var property = schema(field.type, knownNames)
            var description = field.summary
            if let value = field.defaultValue { description += " (default: \(value))" }
            property["description"] = description
            properties[field.key] = property
        }
        var object: [String: Any] = [
            "type": "object", "properties": properties, "additionalProperties": false,
        ]
        let required = fields.filter(\.required).map(\.key)
        if !required.isEmpty { object["required"] = required }
        return object
    }

    private static func schema(_ type: ConfigFieldType, _ knownNames: KnownNames) -> [String: Any] {
        switch type {
        case .string(let pattern, let allowed):
            var schema: [String: Any] = ["type": "string"]
            if let pattern { schema["pattern"] = pattern }
            if let allowed { schema["enum"] = knownNames.names(allowed) }
            return schema
        case .integer(let low, let high):
            return ["type": "integer", "minimum": low, "maximum": high]
        case .number(let low, let exclusive, let high):
            var schema: [String: Any] = ["type": "number"]
            schema[exclusive ? "exclusiveMinimum" : "minimum"] = low
            if let high { schema["maximum"] = high }
            return schema
        case .boolean:
            return ["type": "boolean"]
        case .array(let element):
            return ["type": "array", "items": schema(element, knownNames)]
        case .map(let value):
            return [
                "type": "object", "additionalProperties": schema(value, knownNames),
                "propertyNames": ["pattern": "^[^=\u{0}]+$"],
            ]
        case .object(let fields):
            return objectSchema(fields, knownNames)
        case .anyOf(let alternatives):
            return ["anyOf": alternatives.map { schema($0, knownNames) }]
        case .constant(let text):
            return ["const": text]
        }
    }
}
