import Foundation
import GGUF
import OrchestratorCore
import TestSupport
import Testing

/// Our reader against llama.cpp's own Python reader (`pip install gguf`), field by field, on every fixture.
@Suite(.serialized) struct PythonCrossCheckTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// The JSON `scripts/gguf_dump.py` prints for a file.
    static func dump(_ path: String) throws -> [String: Any] {
        let result = try CommandRunner.run("python3", [packageRoot + "/scripts/gguf_dump.py", path])
        guard result.status == 0 else {
            throw ProbeFailure(
                "scripts/gguf_dump.py failed (\(result.status)); is the gguf package installed "
                    + "(pip install gguf)?\n\(result.stderr)")
        }
        let data = Data(result.stdout.utf8)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ProbeFailure("gguf_dump.py printed no JSON object")
        }
        return object
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A value as JSONSerialization would give it back, for comparison.
    static func same(_ value: GGUFValue, _ json: Any) -> Bool {
        switch value {
        case .string(let string): return (json as? String) == string
        case .bool(let flag): return (json as? Bool) == flag || (json as? NSNumber)?.boolValue == flag
        case .array(let array):
            guard let items = json as? [Any], items.count == array.count else { return false }
            return zip(array.values, items).allSatisfy { same($0, $1) }
        case .float32(let number): return (json as? NSNumber)?.doubleValue == Double(number)
        case .float64(let number): return (json as? NSNumber)?.doubleValue == number
        case .uint64(let number): return (json as? NSNumber)?.uint64Value == number
        case .int64(let number): return (json as? NSNumber)?.int64Value == number
        default: return (json as? NSNumber)?.int64Value == value.intValue.map(Int64.init)
        }
    }

    static var fixtures: [String] { TinyModels.kinds.keys.sorted() + ["every-type", "split"] }

    @Test(arguments: fixtures)
    func readerAgreesWithPython(fixture: String) throws {
        let folder = NSTemporaryDirectory() + "gguf-python-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var paths: [String]
        switch fixture {
        case "every-type":
            var writer = GGUFWriter()
            writer.alignment = 64
            for (index, value) in [
                GGUFValue.uint8(1), .int8(-1), .uint16(2), .int16(-2), .uint32(3), .int32(-3), .float32(0.25),
                .bool(false), .string("ü"), .uint64(1 << 40), .int64(-(1 << 40)), .float64(1e100),
                .array(.string(["x", ""])), .array(.float32([1.5, -2])), .array(.bool([true, false])),
            ].enumerated() {
                writer.set("k.\(index)", value)
            }
            writer.add(TensorSpec("t.q4", [64, 8], .q4_0, .random(seed: 3)))
            writer.add(TensorSpec("t.bf16", [16, 2, 3], .bf16))
            paths = [folder + "/every.gguf"]
            try writer.write(to: paths[0])
        case "split":
            paths = try TinyModels.writer(for: TinyModels.moe).writeSplit(prefix: folder + "/moe", count: 2)
        default:
            let spec = try #require(TinyModels.kinds[fixture])
            paths = [folder + "/\(fixture).gguf"]
            try TinyModels.write(spec, to: paths[0])
        }
        for path in paths {
            let ours = try GGUFFile.read(path: path)
            let theirs = try Self.dump(path)
            #expect(theirs["version"] as? Int == Int(ours.version))
            #expect(theirs["alignment"] as? Int == Int(ours.alignment))
            #expect(theirs["data_offset"] as? Int == Int(ours.dataOffset))
            let metadata = try #require(theirs["metadata"] as? [String: [String: Any]])
            #expect(Set(metadata.keys) == Set(ours.metadata.keys))
            for entry in ours.metadata.entries {
                let field = try #require(metadata[entry.key], "\(entry.key)")
                #expect(field["type"] as? String == "\(entry.value.type)", "\(entry.key)")
                if case .array(let array) = entry.value {
                    #expect(field["element_type"] as? String == "\(array.elementType)", "\(entry.key)")
                }
                #expect(Self.same(entry.value, field["value"] as Any), "\(entry.key)")
            }
            let tensors = try #require(theirs["tensors"] as? [[String: Any]])
            #expect(tensors.count == ours.tensors.count)
            for (tensor, info) in zip(ours.tensors, tensors) {
                #expect(info["name"] as? String == tensor.name)
                #expect((info["shape"] as? [Int])?.map(UInt64.init) == tensor.dimensions, "\(tensor.name)")
                #expect(info["type"] as? String == tensor.type.name, "\(tensor.name)")
                #expect(info["offset"] as? Int == Int(tensor.offset), "\(tensor.name)")
                #expect(info["n_bytes"] as? Int == Int(tensor.byteCount), "\(tensor.name)")
            }
        }
    }
}
