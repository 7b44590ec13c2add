import Foundation
import OrchestratorCore
import Testing

/// In-place edits of `autostart`: only the value changes, whatever the file's layout.
@Suite struct ConfigEditorTests {
    @Test func anExistingValueIsReplacedWhereItIs() throws {
        let text = """
            {
              "name": "a",
              "autostart":   false ,
              "server": {"port": 8001}
            }

            """
        let edited = try ConfigEditor.settingAutostart(true, in: text)
        #expect(edited == text.replacingOccurrences(of: "false", with: "true"))
        #expect(try ConfigEditor.settingAutostart(false, in: edited) == text)
    }

    @Test func aValueOfTheWrongTypeIsReplacedWhole() throws {
        let text = #"{"autostart": {"nested": ["}", "\"]"]}, "name": "a"}"#
        #expect(try ConfigEditor.settingAutostart(true, in: text) == #"{"autostart": true, "name": "a"}"#)
        let string = #"{"name": "a", "autostart": "yes \"please\""}"#
        #expect(try ConfigEditor.settingAutostart(true, in: string) == #"{"name": "a", "autostart": true}"#)
        let number = #"{"autostart":1e3}"#
        #expect(try ConfigEditor.settingAutostart(false, in: number) == #"{"autostart":false}"#)
    }

    @Test func aMissingKeyIsInsertedFirstWithTheFilesIndentation() throws {
        let pretty = "{\n    \"name\": \"a\",\n    \"tags\": []\n}\n"
        #expect(
            try ConfigEditor.settingAutostart(true, in: pretty)
                == "{\n    \"autostart\": true,\n    \"name\": \"a\",\n    \"tags\": []\n}\n")
        let tabs = "{\n\t\"name\": \"a\"\n}"
        #expect(try ConfigEditor.settingAutostart(true, in: tabs) == "{\n\t\"autostart\": true,\n\t\"name\": \"a\"\n}")
        let oneLine = #"{"name": "a", "model": {"path": "m.gguf"}}"#
        #expect(
            try ConfigEditor.settingAutostart(true, in: oneLine)
                == #"{"autostart": true, "name": "a", "model": {"path": "m.gguf"}}"#)
        let spaced = #"  { "name": "a" }"#
        #expect(try ConfigEditor.settingAutostart(true, in: spaced) == #"  { "autostart": true, "name": "a" }"#)
        #expect(try ConfigEditor.settingAutostart(true, in: "{}") == #"{"autostart": true}"#)
    }

    @Test func nestedAutostartKeysAreLeftAlone() throws {
        let text = #"{"env": {"autostart": "x"}, "name": "a"}"#
        #expect(
            try ConfigEditor.settingAutostart(true, in: text)
                == #"{"autostart": true, "env": {"autostart": "x"}, "name": "a"}"#)
    }

    @Test func turningOffAnAbsentKeyChangesNothing() throws {
        let text = "{\n  \"name\": \"a\"\n}\n"
        #expect(try ConfigEditor.settingAutostart(false, in: text) == text)
    }

    @Test func unicodeBeforeTheValueKeepsOffsetsRight() throws {
        let text = #"{"tags": ["größe", "🦙"], "autostart": false}"#
        #expect(try ConfigEditor.settingAutostart(true, in: text) == #"{"tags": ["größe", "🦙"], "autostart": true}"#)
    }

    @Test func textThatIsNotAnObjectIsRefusedWithWhere() {
        #expect(throws: ConfigEditError.notAnObject(found: "an array")) {
            try ConfigEditor.settingAutostart(true, in: "[1]")
        }
        do {
            _ = try ConfigEditor.settingAutostart(true, in: "{\n  \"name\": \"a\",\n}")
            Issue.record("a trailing comma was accepted")
        } catch {
            #expect(error.issue.line == 3)
            #expect(error.description.contains("trailing comma"))
        }
    }
}

/// How edited files are written back (`autostart add`, `init --force`, the Kubernetes export).
@Suite struct AtomicWriteTests {
    /// A config that is the owner's only (it may hold a token) stays so, and a linked config stays linked: the
    /// link's target is written (a rename over the link replaced it with a copy, readable by all).
    @Test func aFilesModeIsKeptAndALinkStaysALink() throws {
        let folder = NSTemporaryDirectory() + "atomic-write-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let target = folder + "/real.json"
        let link = folder + "/config.json"
        try writeAtomically("{}", to: target)
        #expect(chmod(target, 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)

        try writeAtomically(#"{"autostart": true}"#, to: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == #"{"autostart": true}"#)
        let mode = try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["config.json", "real.json"])
    }
}
