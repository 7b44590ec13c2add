import ArgumentParser
import Drivers
import Foundation
import OrchestratorCore

/// `llama-orch drivers`: every built-in backend driver, whether it works here, and how many devices it sees.
struct DriversCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "drivers",
        abstract: "List the backend drivers, whether each works here and why not.",
        discussion:
            "Drivers live in drivers/<name>/; '--backend auto' tries \(DeviceInventory.autoChain.joined(separator: ", "))."
    )

    @OptionGroup var options: GlobalOptions

    @Flag(help: "Print JSON.")
    var json = false

    func execute() async throws {
        let statuses = await DeviceInventory.statuses(
            registry: DriverCatalog.registry(), context: try options.driverContext())
        if json { return try printJSON(statuses) }
        let rows = statuses.map { status in
            [
                status.name, String(status.probe.devices.count), status.summary,
                status.probe.unavailableReason?.description ?? "available",
            ]
        }
        printTable(header: ["DRIVER", "DEVICES", "SUMMARY", "STATUS"], rows: rows)
    }
}

extension GlobalOptions {
    /// The drivers' context: environment, inventory file, and the project's `bin/llama-server` when a project
    /// root is found (none is required, but a `--root` or `LLAMA_ORCH_ROOT` that names none is refused).
    func driverContext() throws -> DriverContext {
        let root: String?
        do {
            root = try projectRoot().path
        } catch ProjectRootError.notFound {
            root = nil
        }
        return .commandLine(environment: environment, devicesFile: devicesFile, projectRoot: root)
    }
}

/// Prints rows under a header, columns padded to their widest cell; the last column is not padded.
func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell + String(repeating: " ", count: max(0, widths[column] - cell.count))
        }
        print(cells.joined(separator: "  "))
    }
}
