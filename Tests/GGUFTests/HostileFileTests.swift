import GGUF
import OrchestratorCore
import TestSupport
import Testing

/// Hostile files: each is refused with a typed error naming the byte offset, never a crash, hang or huge allocation.
@Suite struct HostileFileTests {
    /// Reads bytes and returns the error, recording an issue when the read succeeds.
    func failure(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> GGUFError? {
        do {
            let file = try GGUFFile.read(from: GGUFMemorySource(bytes))
            Issue.record("read succeeded with \(file.tensors.count) tensors", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.exitCode == .modelInvalid, sourceLocation: sourceLocation)
            if let offset = error.offset {
                #expect(error.description.contains("at byte \(offset)"), sourceLocation: sourceLocation)
            }
            return error
        }
    }

    /// A header with one tensor, built by hand so every field can be wrong.
    func file(
        version: UInt32 = 3, tensorCount: UInt64 = 1, keys: [(String, GGUFValue)] = [],
        tensor: (name: String, dims: [UInt64], type: UInt32, offset: UInt64) = ("t", [32], 0, 0), data: Int = 128
    ) -> [UInt8] {
        var out = GGUFBytes()
        out.appendHeader(version: version, tensorCount: tensorCount, keyCount: UInt64(keys.count))
        for (key, value) in keys { out.append(key: key, value: value) }
        if tensorCount > 0 {
            out.appendTensorInfo(name: tensor.name, dimensions: tensor.dims, typeID: tensor.type, offset: tensor.offset)
        }
        out.pad(to: 32)
        out.append(raw: [UInt8](repeating: 0, count: data))
        return out.bytes
    }

    @Test func validHandBuiltFileReads() throws {
        let read = try GGUFFile.read(from: GGUFMemorySource(file()))
        #expect(read.tensors.first?.byteCount == 128)
    }

    @Test func wrongMagic() {
        var bytes = file()
        bytes[0] = UInt8(ascii: "X")
        let error = failure(bytes)
        #expect(error?.kind == .badMagic)
        #expect(error?.offset == 0)
        #expect(failure(Array("GGU".utf8))?.kind == .truncated)
        #expect(failure([])?.kind == .truncated)
    }

    @Test func versions() {
        #expect(failure(file(version: 1))?.kind == .unsupportedVersion)
        #expect(failure(file(version: 4))?.kind == .unsupportedVersion)
        let swapped = failure(file(version: 0x0300_0000))
        #expect(swapped?.kind == .byteOrderMismatch)
        #expect(swapped?.offset == 4)
        #expect(swapped?.description.contains("byte order") == true)
    }

    @Test func absurdCounts() {
        let tensors = failure(file(tensorCount: 1 << 63))
        #expect(tensors?.kind == .implausibleCount)
        #expect(tensors?.offset == 8)
        var out = GGUFBytes()
        out.appendHeader(tensorCount: 0, keyCount: 1 << 63)
        out.append(raw: [UInt8](repeating: 0, count: 64))
        let keys = failure(out.bytes)
        #expect(keys?.kind == .implausibleCount)
        #expect(keys?.offset == 16)
        #expect(failure(file(tensorCount: UInt64.max))?.kind == .implausibleCount)
    }

    @Test func lengthsPastTheEnd() {
        var out = GGUFBytes()
        out.appendHeader(tensorCount: 0, keyCount: 1)
        out.append(UInt64(1 << 40))
        out.append(raw: Array("key".utf8) + [UInt8](repeating: 0, count: 64))
        let key = failure(out.bytes)
        #expect(key?.kind == .implausibleCount)
        #expect(key?.offset == 24)

        out = GGUFBytes()
        out.appendHeader(tensorCount: 0, keyCount: 1)
        out.append(string: "a")
        out.append(GGUFValueType.array.rawValue)
        out.append(GGUFValueType.uint32.rawValue)
        out.append(UInt64(1 << 62))
        out.append(raw: [1, 2, 3, 4])
        let array = failure(out.bytes)
        #expect(array?.kind == .implausibleCount)
        #expect(array?.offset == 24 + 9 + 4 + 4)

        out = GGUFBytes()
        out.appendHeader(tensorCount: 0, keyCount: 1)
        out.append(string: "s")
        out.append(GGUFValueType.string.rawValue)
        out.append(UInt64.max)
        #expect(failure(out.bytes)?.kind == .implausibleCount)
    }

    @Test func deeplyNestedArrays() {
        var out = GGUFBytes()
        out.appendHeader(tensorCount: 0, keyCount: 1)
        out.append(string: "deep")
        out.append(GGUFValueType.array.rawValue)
        for _ in 0..<10_000 {
            out.append(GGUFValueType.array.rawValue)
            out.append(UInt64(1))
        }
        let error = failure(out.bytes)
        #expect(error?.kind == .nestingTooDeep)
        #expect(error?.message.contains("deep") == true)
    }

    @Test func unknownValueType() {
        let error = failure(file(keys: [("k", .uint8(1))]).enumerated().map { $0.offset == 24 + 9 ? 99 : $0.element })
        #expect(error?.kind == .badValueType)
        #expect(error?.offset == 33)
    }

    @Test func unknownAndRetiredTensorTypes() {
        let unknown = failure(file(tensor: ("t", [32], 99, 0)))
        #expect(unknown?.kind == .badTensorType)
        #expect(unknown?.message.contains("99") == true)
        let retired = failure(file(tensor: ("t", [32], 4, 0)))
        #expect(retired?.kind == .badTensorType)
        #expect(retired?.message.contains("retired") == true)
    }

    @Test func tensorOffsets() {
        let outside = failure(file(tensor: ("t", [32], 0, 1 << 20)))
        #expect(outside?.kind == .badTensorOffset)
        #expect(outside?.offset == 24)
        #expect(failure(file(tensor: ("t", [32], 0, UInt64.max - 31)))?.kind == .badTensorOffset)
        #expect(failure(file(tensor: ("t", [32], 0, 3)))?.kind == .badTensorOffset)

        var out = GGUFBytes()
        out.appendHeader(tensorCount: 2, keyCount: 0)
        out.appendTensorInfo(name: "a", dimensions: [32], typeID: 0, offset: 0)
        out.appendTensorInfo(name: "b", dimensions: [32], typeID: 0, offset: 64)
        out.pad(to: 32)
        out.append(raw: [UInt8](repeating: 0, count: 256))
        let overlap = failure(out.bytes)
        #expect(overlap?.kind == .badTensorOffset)
        #expect(overlap?.message.contains("overlaps") == true)
    }

    @Test func shapes() {
        let overflow = failure(file(tensor: ("t", [1 << 32, 1 << 32], 0, 0)))
        #expect(overflow?.kind == .badShape)
        #expect(overflow?.message.contains("overflow") == true)
        #expect(failure(file(tensor: ("t", [UInt64.max], 0, 0)))?.kind == .badShape)
        #expect(failure(file(tensor: ("t", [1, 1, 1, 1, 1], 0, 0)))?.kind == .badShape)
        #expect(failure(file(tensor: ("t", [33], 8, 0)))?.kind == .badShape)
        // Bytes overflow even when elements fit: 2^62 elements of F32.
        #expect(failure(file(tensor: ("t", [1 << 31, 1 << 31], 0, 0)))?.kind == .badShape)
        // Elements and bytes fit, the file does not.
        #expect(failure(file(tensor: ("t", [1 << 30, 1 << 31], 0, 0)))?.kind == .badTensorOffset)
    }

    @Test func duplicatesAndAlignment() {
        #expect(failure(file(keys: [("k", .uint8(1)), ("k", .uint8(2))]))?.kind == .duplicate)
        #expect(failure(file(keys: [("general.alignment", .uint32(48))]))?.kind == .badMetadata)
        #expect(failure(file(keys: [("general.alignment", .uint32(0))]))?.kind == .badMetadata)
        #expect(failure(file(keys: [("general.alignment", .uint64(32))]))?.kind == .badMetadata)
        var out = GGUFBytes()
        out.appendHeader(tensorCount: 2, keyCount: 0)
        out.appendTensorInfo(name: "a", dimensions: [8], typeID: 0, offset: 0)
        out.appendTensorInfo(name: "a", dimensions: [8], typeID: 0, offset: 32)
        out.pad(to: 32)
        out.append(raw: [UInt8](repeating: 0, count: 64))
        #expect(failure(out.bytes)?.kind == .duplicate)
    }

    /// Every prefix of a real fixture shorter than its last tensor's data is refused.
    @Test func truncatedAtEveryByte() throws {
        let bytes = TinyModels.writer(for: TinyModels.mini).bytes()
        let whole = try GGUFFile.read(from: GGUFMemorySource(bytes))
        let dataEnd = whole.tensors.map { whole.dataOffset + $0.offset + $0.byteCount }.max() ?? 0
        var headerEnd = 0
        // Every byte of the header, then every 61st byte of the data section (all refused for the same reason).
        let lengths =
            Array(0..<Int(whole.dataOffset)) + Array(stride(from: Int(whole.dataOffset), to: Int(dataEnd), by: 61))
        for length in lengths {
            do {
                _ = try GGUFFile.read(from: GGUFMemorySource(Array(bytes[0..<length])))
                Issue.record("prefix of \(length) bytes read")
                break
            } catch {
                if error.kind == .truncated || error.kind == .implausibleCount { headerEnd = length }
                #expect(error.kind == .truncated || error.kind == .implausibleCount || error.kind == .badTensorOffset)
            }
        }
        #expect(UInt64(headerEnd) < whole.dataOffset)
    }

    /// Files the mutation run once crashed or hung on; kept as regression tests (see MutationTests).
    @Test(arguments: MutationTests.regressions)
    func mutationRegressions(regression: MutationTests.Regression) {
        var bytes = TinyModels.writer(for: TinyModels.mini).bytes()
        regression.apply(to: &bytes)
        _ = try? GGUFFile.read(from: GGUFMemorySource(bytes))
    }
}
