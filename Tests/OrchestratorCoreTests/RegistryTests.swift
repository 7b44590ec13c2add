import OrchestratorCore
import Testing

@Suite struct RegistryTests {
    let registry = Registry(kind: "health checker", [("http", 1), ("tcp", 2), ("process", 3)])

    @Test func looksUpByName() throws {
        #expect(try registry.lookup("tcp") == 2)
        #expect(registry.names == ["http", "tcp", "process"])
        #expect(registry["nope"] == nil)
    }

    @Test func unknownNameListsKnownOnesAndSuggests() {
        #expect(throws: RegistryError(kind: "health checker", name: "htp", known: ["http", "tcp", "process"])) {
            try registry.lookup("htp")
        }
        let error = RegistryError(kind: "health checker", name: "htp", known: registry.names)
        #expect(error.description == "unknown health checker 'htp'; known: http, tcp, process (did you mean 'http'?)")
        #expect(error.exitCode == .configInvalid)
        #expect(RegistryError(kind: "driver", name: "x", known: []).exitCode == .driverUnavailable)
    }

    @Test func editDistance() {
        #expect(OrchestratorCore.editDistance("kitten", "sitting") == 3)
        #expect(closestMatch(to: "modle", among: ["model", "server"]) == "model")
        #expect(closestMatch(to: "zzzzzz", among: ["model", "server"]) == nil)
    }
}
