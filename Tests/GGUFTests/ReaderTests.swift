import Foundation
import GGUF
import OrchestratorCore
import TestSupport
import Testing

@Suite struct ReaderTests {
    /// Every value type, nested arrays and a non-default alignment survive a write and a read.
    @Test(arguments: [UInt32(2), 3])
    func everyValueTypeRoundTrips(version: UInt32) throws {
        var writer = GGUFWriter()
        writer.version = version
        writer.alignment = 64
        let values: [(String, GGUFValue)] = [
            ("t.u8", .uint8(200)), ("t.i8", .int8(-5)), ("t.u16", .uint16(65000)), ("t.i16", .int16(-300)),
            ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-70000)), ("t.f32", .float32(1.5)),
            ("t.bool", .bool(true)), ("t.str", .string("héllo")), ("t.u64", .uint64(UInt64.max)),
            ("t.i64", .int64(Int64.min)), ("t.f64", .float64(-2.25)),
            ("t.arr", .array(.int32([1, -2, 3]))),
            ("t.nested", .array(.array([.string(["a", "b"]), .string([])]))),
            ("t.deep", .array(.array([.array([.uint8([1, 2])])]))),
            ("t.empty", .array(.float64([]))),
        ]
        for (key, value) in values { writer.set(key, value) }
        writer.add(TensorSpec("a", [32, 2], .q8_0, .random(seed: 1)))
        writer.add(TensorSpec("b", [3], .f32, .ones))
        let file = try GGUFFile.read(from: GGUFMemorySource(writer.bytes()))
        #expect(file.version == version)
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        for (key, value) in values { #expect(file.metadata[key] == value, "\(key)") }
        #expect(file.metadata.keys == values.map(\.0) + ["general.alignment"])
        #expect(file.tensors.map(\.name) == ["a", "b"])
        #expect(file.tensors[0].byteCount == 68)
        #expect(file.tensors[1].offset == 128)
        #expect(file.tensors[1].type == .f32)
    }

    @Test func typeTableMatchesReference() throws {
        let expected: [UInt32: (String, UInt64, UInt64)] = [
            0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
            7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84),
            11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
            15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
            19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
            23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
            28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54),
            35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
            42: ("Q2_0", 64, 18),
        ]
        #expect(GGMLType.all.count == expected.count)
        for (id, (name, elements, bytes)) in expected {
            let type = try #require(GGMLType.known(id: id))
            #expect(type.name == name && type.blockElements == elements && type.blockBytes == bytes, "\(id)")
        }
        for id in [UInt32(4), 5, 31, 32, 33, 36, 37, 38] {
            #expect(GGMLType.lookup(id: id) == .failure(.retired(id)))
        }
        #expect(GGMLType.lookup(id: 43) == .failure(.unknown(43)))
        #expect("\(GGMLType.LookupFailure.unknown(77))".contains("77"))
        #expect(GGMLType.named("q8_0") == .q8_0)
    }

    /// The reader never reads the data section: a 310 MB model costs a few windows of header.
    @Test func readsHeaderOnly() throws {
        let folder = try TemporaryFile.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/large.gguf"
        try TinyModels.write(TinyModels.large, to: path)
        let source = CountingSource(try GGUFFileSource(path: path))
        let file = try GGUFFile.read(from: source)
        #expect(source.size > 300_000_000)
        // The header of a 32k vocabulary is about 0.8 MB; the reader reads it once, in windows, and stops.
        #expect(source.bytesRead < Int(file.dataOffset) + 65_536)
        #expect(source.highestOffset <= file.dataOffset + 65_536)
        #expect(source.bytesRead < Int(source.size / 100))
    }

    @Test func splitModelReadsEveryShard() throws {
        let folder = try TemporaryFile.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let writer = TinyModels.writer(for: TinyModels.dense)
        let paths = try writer.writeSplit(prefix: folder + "/model", count: 3)
        #expect(paths.last?.hasSuffix("model-00003-of-00003.gguf") == true)
        for path in paths {
            let model = try GGUFModel.open(path: path)
            #expect(model.files.count == 3)
            #expect(model.tensors.count == writer.tensors.count)
            #expect(model.metadata["general.name"] == .string("tiny-dense"))
        }
        let single = try GGUFFile.read(from: GGUFMemorySource(writer.bytes()))
        let whole = try ModelProfile(model: GGUFModel(files: [single], paths: ["x"]))
        let split = try ModelProfile(model: GGUFModel.open(path: paths[1]))
        #expect(split.tensorBytes == whole.tensorBytes)
        #expect(split.layerBytes == whole.layerBytes)
        try FileManager.default.removeItem(atPath: paths[2])
        do {
            _ = try GGUFModel.open(path: paths[0])
            Issue.record("a split model with a missing shard opened")
        } catch {
            #expect(error.kind == .fileNotFound)
            #expect(error.exitCode == .notFound)
            #expect(error.description.contains("00003"))
        }
    }

    /// A FIFO or a device is refused before it is opened: opening a FIFO for reading waits for a writer, and
    /// `/dev/zero` would be read as a file that never ends.
    @Test(.timeLimit(.minutes(1))) func aFIFOOrADeviceIsRefusedWithoutWaiting() throws {
        let folder = try TemporaryFile.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/pipe.gguf"
        #expect(mkfifo(fifo, 0o600) == 0)
        for (path, kind) in [(fifo, "a FIFO"), ("/dev/zero", "a character device")] {
            do {
                _ = try GGUFModel.open(path: path)
                Issue.record("\(path) was read as a model")
            } catch {
                #expect(error.kind == .ioError)
                #expect(error.description.contains(kind) && error.description.contains(path))
            }
        }
    }

    @Test func missingFileIsNotFound() {
        do {
            _ = try GGUFFile.read(path: "/nonexistent/model.gguf")
            Issue.record("a missing file was read")
        } catch {
            #expect(error.exitCode == .notFound)
        }
    }
}

/// A source that records how much and how far it was read.
final class CountingSource: GGUFByteSource, @unchecked Sendable {
    let inner: any GGUFByteSource
    private(set) var bytesRead = 0
    private(set) var highestOffset: UInt64 = 0
    init(_ inner: any GGUFByteSource) { self.inner = inner }
    var size: UInt64 { inner.size }
    func read(at offset: UInt64, count: Int) throws(GGUFError) -> [UInt8] {
        let bytes = try inner.read(at: offset, count: count)
        bytesRead += bytes.count
        highestOffset = max(highestOffset, offset + UInt64(bytes.count))
        return bytes
    }
}

/// Temporary files and folders under the system temporary directory, one folder per call.
enum TemporaryFile {
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "gguf-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

}
