import Foundation
import OrchestratorCore
import Testing

/// What `up` says changed between a running server's fingerprint and the files now.
struct RunFingerprintTests {
    static let config =
        #"{"gpu":{"backend":"cpu"},"model":{"context_size":4096,"path":"m.gguf","resolved_path":"/p/m.gguf"},"name":"qwen"}"#
    static let model = FileStamp(path: "/p/m.gguf", device: 1, inode: 10, size: 100, modified: 5)

    func fingerprint(config: String = config, model: FileStamp? = model) -> RunFingerprint {
        RunFingerprint(
            config: config, model: model, binary: FileStamp(path: "/b", device: 1, inode: 2, size: 3, modified: 4),
            argv: ["/b", "-c", "4096"])
    }

    @Test func nothingChangedIsEmptyWhateverTheArgv() {
        var now = fingerprint()
        now.argv = ["/b", "-c", "4096", "--tensor-split", "1,1"]
        #expect(fingerprint().changes(to: now).isEmpty)
    }

    @Test func aConfigValueChangeSaysOldAndNew() {
        let edited = Self.config.replacingOccurrences(of: "4096", with: "8192")
        #expect(fingerprint().changes(to: fingerprint(config: edited)) == ["model.context_size 4096 → 8192"])
    }

    @Test func anAddedOrRemovedKeyIsUnset() {
        let added = Self.config.replacingOccurrences(of: #""name":"qwen""#, with: #""name":"qwen","args":["-lv","4"]"#)
        #expect(fingerprint().changes(to: fingerprint(config: added)) == [#"args unset → ["-lv","4"]"#])
        #expect(fingerprint(config: added).changes(to: fingerprint()) == [#"args ["-lv","4"] → unset"#])
    }

    @Test func anotherModelPathIsSaidOnceNotAlsoAsItsResolvedPath() {
        let moved = Self.config.replacingOccurrences(of: "m.gguf", with: "n.gguf")
        var stamp = Self.model
        stamp.path = "/p/n.gguf"
        stamp.inode = 11
        #expect(fingerprint().changes(to: fingerprint(config: moved, model: stamp)) == ["model.path m.gguf → n.gguf"])
    }

    @Test func aModelFileReplacedUnderTheSameNameIsFoundByIdentity() {
        var replaced = Self.model
        replaced.inode = 99
        #expect(fingerprint().changes(to: fingerprint(model: replaced)) == ["model file replaced"])
        var rewritten = Self.model
        rewritten.modified = 6
        #expect(fingerprint().changes(to: fingerprint(model: rewritten)) == ["model file modified"])
        #expect(fingerprint().changes(to: fingerprint(model: nil)) == ["model file is gone"])
    }

    @Test func anotherBinarySaysWhichPaths() {
        var now = fingerprint()
        now.binary?.path = "/c"
        #expect(fingerprint().changes(to: now) == ["llama-server binary /b → /c"])
        now.binary = FileStamp(path: "/b", device: 1, inode: 7, size: 3, modified: 4)
        #expect(fingerprint().changes(to: now) == ["llama-server binary replaced"])
    }

    @Test func unreadableConfigTextIsStillAChange() {
        #expect(fingerprint().changes(to: fingerprint(config: "not json")) == ["config"])
    }
}
