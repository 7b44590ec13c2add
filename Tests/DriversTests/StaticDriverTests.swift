import Drivers
import Foundation
import OrchestratorCore
import TestSupport
import Testing

@Suite struct StaticDriverTests {
    /// Parses `json` as an inventory named `devices.json`.
    func parse(_ json: String) throws(StaticInventoryError) -> [Device] {
        try StaticInventory.parse(Data(json.utf8), file: "devices.json")
    }

    /// The error for `json`, or a recorded issue when it parses.
    func error(_ json: String) -> StaticInventoryError? {
        do {
            let devices = try parse(json)
            Issue.record("expected an error, got \(devices)")
            return nil
        } catch {
            return error
        }
    }

    @Test func readsAGoodFileWithDefaults() throws {
        let devices = try parse(
            """
            {"devices": [
              {"name": "GPU-A", "kind": "discrete", "total_mib": 24576, "free_mib": 24000},
              {"name": "GPU-B", "kind": "integrated", "total_mib": 8192, "llama_name": "Vulkan1",
               "pci_bus_id": "0000:2a:00.0", "uuid": "00112233445566778899aabbccddeeff"},
              {"name": "host", "kind": "cpu", "total_mib": 65536, "free_mib": 0}
            ]}
            """)
        #expect(devices.count == 3)
        #expect(devices[0].llamaName == "GPU-A")
        #expect(devices[0].id == "static:GPU-A")
        #expect(devices[0].kind == .discrete)
        #expect(devices[0].totalBytes == 24576 << 20)
        #expect(devices[0].freeBytes == 24000 << 20)
        #expect(devices[1].freeBytes == 8192 << 20, "free_mib defaults to total_mib")
        #expect(devices[1].llamaName == "Vulkan1")
        #expect(devices[1].id == "00112233445566778899aabbccddeeff")
        #expect(devices[1].pciBusID == "0000:2a:00.0")
        #expect(devices[2].isHost)
        #expect(devices[2].freeBytes == 0)
        #expect(devices.allSatisfy { $0.backend == "static" })
    }

    @Test(arguments: [
        (
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 1}, {"name": "B", "kind": "discrete", "total_mib": "abc"}]}"#,
            #"devices.json: devices[1].total_mib: expected a positive integer, got "abc""#
        ),
        (
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 0}]}"#,
            "devices.json: devices[0].total_mib: expected a positive integer, got 0"
        ),
        (
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 1.5}]}"#,
            "devices.json: devices[0].total_mib: expected a positive integer, got 1.5"
        ),
        (
            #"{"devices": [{"name": "A", "kind": "discrete"}]}"#,
            "devices.json: devices[0].total_mib: expected a positive integer, got nothing"
        ),
        (
            #"{"devices": [{"name": "A", "kind": "quantum", "total_mib": 1}]}"#,
            #"devices.json: devices[0].kind: expected one of discrete, integrated, cpu, got "quantum""#
        ),
        (
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 1, "totl_mib": 2}]}"#,
            "devices.json: devices[0].totl_mib: unknown key (known: free_mib, kind, llama_name, name, pci_bus_id, total_mib, uuid)"
        ),
        (#"{"devices": [], "gpus": []}"#, "devices.json: gpus: unknown key (known: devices)"),
        (#"{"devices": {}}"#, "devices.json: devices: expected an array of devices, got an object"),
        (
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 4, "free_mib": 5}]}"#,
            "devices.json: devices[0].free_mib: expected at most total_mib (4), got 5"
        ),
        (
            #"{"devices": [{"name": "A", "kind": "discrete", "total_mib": 4}, {"name": "A", "kind": "discrete", "total_mib": 4}]}"#,
            #"devices.json: devices[1].name: duplicate name "A""#
        ),
        (
            #"{"devices": [{"name": "h", "kind": "cpu", "total_mib": 4, "llama_name": "CPU"}]}"#,
            "devices.json: devices[0].llama_name: a cpu entry stands for host memory and has no llama.cpp name"
        ),
        (#"{"devices": [true]}"#, "devices.json: devices[0]: expected an object, got true"),
    ])
    func refusesABadFileNamingTheField(json: String, message: String) {
        #expect(error(json)?.description == message)
    }

    @Test func refusesTextThatIsNotJSONSayingWhere() {
        let error = error("{\n  devices: [")
        #expect(error?.field == nil)
        #expect(error?.description.hasPrefix("devices.json: not valid JSON: ") == true, "\(String(describing: error))")
        #expect(error?.description.hasSuffix("at line 2, column 3") == true, "\(String(describing: error))")
        #expect(error?.description.contains("DecodingError") == false)
        #expect(error?.exitCode == .configInvalid)
    }

    @Test func aMissingFileIsNotFoundAndAFolderIsRefused() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let missing = folder.path + "/none.json"
        #expect(throws: StaticInventoryError(file: missing, field: nil, problem: "no such file", isMissing: true)) {
            try StaticInventory.load(file: missing)
        }
        let probed = DriverUnavailableError(
            driver: "static",
            reason: try #require(
                await StaticDriver(context: DriverContext(devicesFile: missing)).probe().unavailableReason))
        #expect(probed.reason.cause == .missingFile)
        #expect(probed.exitCode == .notFound)
        #expect(throws: StaticInventoryError(file: folder.path, field: nil, problem: "a folder, not an inventory file"))
        {
            try StaticInventory.load(file: folder.path)
        }
    }

    @Test func driverReadsTheFileFromTheContextOrEnvironment() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = try folder.write(
            "planned.json", #"{"devices": [{"name": "GPU-A", "kind": "discrete", "total_mib": 100}]}"#)
        let fromOption = await StaticDriver(context: DriverContext(devicesFile: file)).probe()
        #expect(fromOption.devices.map(\.description) == ["GPU-A"])
        let fromEnvironment = await StaticDriver(context: DriverContext(environment: ["LLAMA_ORCH_DEVICES": file]))
            .probe()
        #expect(fromEnvironment == fromOption)

        let bad = try folder.write("bad.json", #"{"devices": [{"name": "X", "kind": "discrete", "total_mib": -1}]}"#)
        let refused = await StaticDriver(context: DriverContext(devicesFile: bad)).probe()
        #expect(
            refused.unavailableReason
                == UnavailableReason(.invalidInput, "\(bad): devices[0].total_mib: expected a positive integer, got -1")
        )
        let missing = await StaticDriver(context: DriverContext()).probe()
        #expect(missing.unavailableReason?.cause == .notConfigured)
    }
}
