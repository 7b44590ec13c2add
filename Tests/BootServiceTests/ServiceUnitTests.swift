import BootService
import Foundation
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// The rendered units read back by the tools that consume them: the plist as a property list, the task as
/// XML, and escaping that survives odd paths.
@Suite struct ServiceUnitTests {
    @Test(arguments: ServiceScope.allCases)
    func thePlistParsesAsAPropertyListWithTheDaemonCommand(scope: ServiceScope) throws {
        var definition = ServiceUnitGoldenTests.posix
        definition.root = "/srv/llm & <friends> \"quoted\""
        let text = try ServiceUnit.render(target: .launchd, scope: scope, definition: definition)
        let plist = try PropertyListSerialization.propertyList(from: Data(text.utf8), options: [], format: nil)
        let dictionary = try #require(plist as? [String: Any])
        #expect(dictionary["Label"] as? String == "llama-orch")
        #expect(
            dictionary["ProgramArguments"] as? [String] == [
                "/opt/llama-orch/bin/llama-orch", "daemon", "start", "--foreground", "--root", definition.root,
            ])
        #expect(dictionary["WorkingDirectory"] as? String == definition.root)
        #expect(dictionary["RunAtLoad"] as? Bool == true)
        #expect(dictionary["AbandonProcessGroup"] as? Bool == true)
        #expect((dictionary["KeepAlive"] as? [String: Any])?["SuccessfulExit"] as? Bool == false)
        #expect(dictionary["ExitTimeOut"] as? Int == ServiceDefinition.defaultStopTimeoutSeconds)
        let environment = try #require(dictionary["EnvironmentVariables"] as? [String: String])
        #expect(environment == definition.environment)
        #expect((dictionary["UserName"] as? String) == (scope == .system ? "llm" : nil))
    }

    @Test(arguments: ServiceScope.allCases)
    func theTaskXMLIsWellFormed(scope: ServiceScope) throws {
        var definition = ServiceUnitGoldenTests.windows
        definition.root = #"C:\models & <more>"#
        let text = try ServiceUnit.render(target: .schtasks, scope: scope, definition: definition)
        let collector = ElementCollector()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = collector
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")\n\(text)")
        #expect(collector.text["Command"] == definition.binary)
        #expect(collector.text["WorkingDirectory"] == definition.root)
        #expect(collector.text["Arguments"] == #"daemon start --foreground --root "C:\models & <more>""#)
        #expect(collector.elements.contains(scope == .system ? "BootTrigger" : "LogonTrigger"))
    }

    @Test func systemdEscapesSpecifiersDollarsAndSpaces() throws {
        let definition = ServiceDefinition(
            binary: "/opt/llama orch/llama-orch", root: "/srv/100% $HOME \"x\"", environment: ["A": "b c%d\"e\\"])
        let text = try ServiceUnit.render(target: .systemd, scope: .user, definition: definition)
        #expect(
            text.contains(
                #"ExecStart="/opt/llama orch/llama-orch" daemon start --foreground --root "/srv/100%% $$HOME \"x\"""#),
            "\(text)")
        #expect(text.contains(#"Environment="A=b c%%d\"e\\""#), "\(text)")
        #expect(text.contains(#"WorkingDirectory=/srv/100%% $HOME "x""#), "\(text)")
    }

    @Test func nssmQuotesArgumentsTheWayWindowsSplitsThem() throws {
        let definition = ServiceDefinition(
            binary: #"C:\llama-orch.exe"#, root: #"D:\my models\"#, environment: ["EMPTY": ""])
        let text = try ServiceUnit.render(target: .nssm, scope: .system, definition: definition)
        // The root's trailing backslash is doubled before the closing quote, twice over: once inside
        // AppParameters, once for nssm's own argument.
        #expect(
            text.contains(
                #"nssm set llama-orch AppParameters "daemon start --foreground --root \"D:\my models\\\\\"""#),
            "\(text)")
        #expect(text.contains(#"nssm set llama-orch AppDirectory "D:\my models\\""#), "\(text)")
        #expect(text.contains("AppEnvironmentExtra EMPTY=\n"), "\(text)")
        #expect(!text.contains("ObjectName"))
    }

    @Test func valuesThatCannotBeWrittenSafelyAreRefused() {
        let base = ServiceUnitGoldenTests.posix
        var relative = base
        relative.binary = "llama-orch"
        var newline = base
        newline.root = "/srv/llm\nExecStartPre=/bin/rm"
        var badName = base
        badName.environment = ["NOT A NAME": "x"]
        var badUser = base
        badUser.user = "two words"
        var badService = base
        badService.name = "../evil"
        var doubleHyphen = base
        doubleHyphen.name = "llama--orch"
        for definition in [relative, newline, badName, badUser, badService, doubleHyphen] {
            #expect(throws: ServiceError.self) {
                try ServiceUnit.render(target: .systemd, scope: .system, definition: definition)
            }
        }
        var windowsQuote = ServiceUnitGoldenTests.windows
        windowsQuote.root = #"C:\a"b"#
        #expect(throws: ServiceError.self) {
            try ServiceUnit.render(target: .nssm, scope: .system, definition: windowsQuote)
        }
    }
}

/// Collects element names and the text of leaf elements.
final class ElementCollector: NSObject, XMLParserDelegate, @unchecked Sendable {
    var elements: [String] = []
    var text: [String: String] = [:]
    private var current = ""

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        elements.append(elementName)
        current = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        current += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { text[elementName] = trimmed }
        current = ""
    }
}
