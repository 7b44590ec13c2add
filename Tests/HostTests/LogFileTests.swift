import Foundation
import Host
import TestSupport
import Testing

/// `logs -n N` reads a log's last lines from its end, as bytes.
@Suite struct LastLinesTests {
    private func lines(_ text: [UInt8], _ count: Int) throws -> [UInt8] {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/stdout.log"
        try #require(FileManager.default.createFile(atPath: path, contents: Data(text)))
        let read = try #require(LogFile.lastLines(of: path, count: count))
        #expect(read.end == text.count)
        return read.bytes
    }

    @Test func theLastLinesWithOrWithoutAFinalNewline() throws {
        #expect(try lines(Array("one\ntwo\nthree\n".utf8), 2) == Array("two\nthree\n".utf8))
        #expect(try lines(Array("one\ntwo\nthree".utf8), 2) == Array("two\nthree".utf8))
        #expect(try lines(Array("one\ntwo\n".utf8), 5) == Array("one\ntwo\n".utf8))
        #expect(try lines(Array("one\n\n\nfour\n".utf8), 3) == Array("\n\nfour\n".utf8))
        #expect(try lines(Array("one\ntwo\n".utf8), 0) == [])
        #expect(try lines([], 3) == [])
        #expect(LogFile.lastLines(of: "/nonexistent/stdout.log", count: 3) == nil)
    }

    @Test func bytesThatAreNotUTF8ComeOutAsTheyAre() throws {
        // A token cut in the middle of a character, as a server may print it.
        let text: [UInt8] = Array("first\nhalf ".utf8) + [0xE2, 0x82] + Array("\nlast\n".utf8)
        #expect(try lines(text, 2) == Array("half ".utf8) + [0xE2, 0x82] + Array("\nlast\n".utf8))
    }

    @Test func theTextOfTheLastLinesForAnErrorMessageSkipsBlankLines() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/stderr.log"
        try #require(
            FileManager.default.createFile(
                atPath: path, contents: Data(Array("loading\n\nerror: bad ".utf8) + [0xFF] + Array("\n\n".utf8))))
        #expect(LogFile.lastLinesText(of: path, count: 2) == "loading\nerror: bad \u{FFFD}")
        #expect(LogFile.lastLinesText(of: path, count: 1) == "error: bad \u{FFFD}")
        #expect(LogFile.lastLinesText(of: folder.path + "/missing.log", count: 3) == "")
    }

    @Test func aLargeLogIsReadFromItsEndAcrossChunks() throws {
        // 200,000 numbered lines (about 2.3 MB): the tail spans a 64 KiB chunk boundary for some counts.
        let text = Array((0..<200_000).map { "line \($0)\n" }.joined().utf8)
        for count in [1, 7000, 12_345] {
            let expected = Array((200_000 - count..<200_000).map { "line \($0)\n" }.joined().utf8)
            #expect(try lines(text, count) == expected, "\(count) lines")
        }
    }
}
