import BootService
import Foundation
import Testing

/// Each target's rendering of fixed inputs against a golden file written and checked by hand (not captured
/// from the renderer): a change to a unit shows up as a diff a reviewer reads.
@Suite struct ServiceUnitGoldenTests {
    static let posix = ServiceDefinition(
        binary: "/opt/llama-orch/bin/llama-orch", root: "/srv/llm",
        environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "LLAMA_SERVER": "/opt/llama.cpp/bin/llama-server"],
        user: "llm")
    static let windows = ServiceDefinition(
        binary: #"C:\Program Files\llama-orch\llama-orch.exe"#, root: #"C:\llm"#,
        environment: [
            "PATH": #"C:\Windows\system32;C:\Program Files\llama-orch"#,
            "LLAMA_SERVER": #"C:\llama.cpp\llama-server.exe"#,
        ],
        user: #".\llm"#)

    static func golden(_ name: String) throws -> String {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
        return try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    @Test(arguments: [
        (ServiceTarget.systemd, ServiceScope.system, "systemd-system.service"),
        (.systemd, .user, "systemd-user.service"),
        (.launchd, .system, "launchd-system.plist"),
        (.launchd, .user, "launchd-user.plist"),
    ])
    func posixTargetsMatchTheirGoldenFiles(target: ServiceTarget, scope: ServiceScope, file: String) throws {
        let rendered = try ServiceUnit.render(target: target, scope: scope, definition: Self.posix)
        #expect(rendered == (try Self.golden(file)), "\(file) differs:\n\(rendered)")
    }

    @Test func nssmCommandsMatchTheGoldenFile() throws {
        let rendered = try ServiceUnit.render(target: .nssm, scope: .system, definition: Self.windows)
        #expect(rendered == (try Self.golden("nssm.cmd")), "nssm.cmd differs:\n\(rendered)")
    }

    @Test func taskSchedulerXMLMatchesTheGoldenFiles() throws {
        var system = Self.windows
        system.user = nil
        let forSystem = try ServiceUnit.render(target: .schtasks, scope: .system, definition: system)
        #expect(forSystem == (try Self.golden("schtasks-system.xml")), "schtasks-system.xml differs:\n\(forSystem)")
        let forUser = try ServiceUnit.render(target: .schtasks, scope: .user, definition: Self.windows)
        #expect(forUser == (try Self.golden("schtasks-user.xml")), "schtasks-user.xml differs:\n\(forUser)")
    }
}
