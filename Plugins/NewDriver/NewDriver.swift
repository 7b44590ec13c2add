import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory new-driver NAME`: scaffolds `drivers/NAME/` with a
/// driver that compiles and a test beside the others, so a new backend is one folder and a rebuild.
///
/// NAME is what `--backend` will accept: a lowercase identifier (`rocm_smi`) that no driver uses yet.
@main
struct NewDriver: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let names = arguments.filter { !$0.hasPrefix("-") }
        guard names.count == 1, let name = names.first else {
            throw NewDriverError("usage: swift package --allow-writing-to-package-directory new-driver NAME")
        }
        let root = context.package.directoryURL
        let scaffold = try Scaffold(name: name)
        try scaffold.checkUnused(in: root)
        try scaffold.write(in: root)
        print(
            "new-driver: created \(scaffold.driverPath) and \(scaffold.testPath); build to list it in 'llama-orch drivers'"
        )
    }
}

/// The two files for one driver name.
struct Scaffold {
    let name: String
    /// `rocm_smi` → `RocmSmiDriver`.
    let typeName: String

    init(name: String) throws {
        let valid =
            name.first.map { $0.isASCII && $0.isLowercase } == true
            && name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }
            && !name.hasSuffix("_")
        guard valid, !name.contains("__") else {
            throw NewDriverError(
                "'\(name)' is not a driver name: use a lowercase identifier (letters, digits, single underscores, "
                    + "starting with a letter), e.g. 'rocm' or 'rocm_smi'")
        }
        self.name = name
        typeName = name.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Driver"
    }

    var driverPath: String { "drivers/\(name)/\(typeName).swift" }
    var testPath: String { "Tests/DriversTests/\(typeName)Tests.swift" }

    /// Refuses a name or type that exists: the folder, either file, or a driver declaring the same name.
    func checkUnused(in root: URL) throws {
        let files = FileManager.default
        for path in ["drivers/\(name)", testPath] where files.fileExists(atPath: root.appending(path: path).path) {
            throw NewDriverError("\(path) already exists: driver '\(name)' is taken; pick another name")
        }
        let drivers = root.appending(path: "drivers")
        let sources = files.enumerator(at: drivers, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        for source in sources where source.pathExtension == "swift" {
            guard let text = try? String(contentsOf: source, encoding: .utf8) else { continue }
            if text.contains("static let name = \"\(name)\"") || text.contains(" \(typeName):") {
                throw NewDriverError(
                    "\(source.path.replacingOccurrences(of: root.path + "/", with: "")) already declares driver "
                        + "'\(name)' or type \(typeName); pick another name")
            }
        }
    }

    func write(in root: URL) throws {
        let driver = root.appending(path: driverPath)
        try FileManager.default.createDirectory(
            at: driver.deletingLastPathComponent(), withIntermediateDirectories: true)
        try driverSource.write(to: driver, atomically: true, encoding: .utf8)
        try testSource.write(to: root.appending(path: testPath), atomically: true, encoding: .utf8)
    }

    var driverSource: String {
        """
        import OrchestratorCore

        /// Devices found by the \(name) driver (describe the source: a library, a program, a file).
        ///
        /// Scaffolded by `swift package new-driver \(name)`. `drivers/static/StaticDriver.swift` is the example
        /// to follow: `init` only stores what it needs, `probe()` never throws and says why it is unavailable,
        /// and `launchSettings(for:)` is only needed when `--device NAME` is not enough.
        public struct \(typeName): BackendDriver {
            public static let name = "\(name)"
            public static let summary = "\(name) devices (describe them in one line)"

            public init(context: DriverContext) {}

            public func probe() async -> DriverProbe {
                .unavailable(.init(.notConfigured, "the \(name) driver is a template: implement probe() in drivers/\(name)"))
            }
        }

        """
    }

    var testSource: String {
        """
        import Drivers
        import OrchestratorCore
        import Testing

        @Suite struct \(typeName)Tests {
            @Test func isBuiltIn() {
                #expect(DriverCatalog.registry().contains("\(name)"))
            }

            @Test func probeAnswers() async {
                let probe = await \(typeName)(context: DriverContext()).probe()
                // Replace with what the driver should find.
                #expect(probe.unavailableReason?.cause == .notConfigured)
            }
        }

        """
    }
}

/// A message the plugin stops with.
struct NewDriverError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "new-driver: " + description }
}
