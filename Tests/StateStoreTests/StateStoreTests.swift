import Foundation
import GRDB
import OrchestratorCore
import TestSupport
import Testing

@testable import StateStore

@Suite(.serialized) struct StateStoreTests {
    @Test func migratesAFreshFileAndKeepsData() throws {
        let project = try TemporaryProject("state")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        do {
            let (store, warnings) = try StateStore.open(path: path)
            #expect(warnings.isEmpty)
            #expect(
                try store.appliedMigrations() == [
                    "v1: instances, runs, events", "v2: run fingerprints and measured allocations",
                    "router: requests", "router: who started an instance",
                ])
            try store.setDesiredState(.running, for: "demo")
            try store.setStartedByRouter(true, for: "demo")
            try store.setStartedByRouter(true, for: "other")
            try store.setStartedByRouter(false, for: "other")
            let run = try store.recordRunStart(
                RunInfo(
                    instance: "demo", runID: "run-1", pid: 4242, processGroup: 4242, processStartTime: 123_456,
                    port: 8001,
                    argv: ["llama-server", "-m", "m.gguf"], environment: ["LLAMA_ORCH_RUN_ID": "run-1"],
                    placement: Self.placement, backend: "cpu", startedAt: 1000))
            #expect(run.id > 0)
            try store.appendEvent(InstanceEvent(time: 1001, instance: "demo", kind: "state", message: "starting"))
        }
        // Reopen: migrations are not reapplied and the data is there.
        let (store, _) = try StateStore.open(path: path)
        #expect(try store.appliedMigrations().count == 4)
        #expect(try store.desiredStates() == ["demo": .running, "other": .stopped])
        #expect(try store.startedByRouter() == ["demo"])
        let open = try store.openRuns()
        #expect(open.count == 1)
        #expect(open.first?.argv == ["llama-server", "-m", "m.gguf"])
        #expect(open.first?.processStartTime == 123_456)
        #expect(open.first?.placement == Self.placement && open.first?.backend == "cpu")
        try store.recordRunEnd(id: open[0].id, at: 2000, exitStatus: nil, exitSignal: 9)
        #expect(try store.openRuns().isEmpty)
        #expect(try store.runs(of: "demo").first?.exitSignal == 9)
        #expect(try store.events(of: "demo").map(\.message) == ["starting"])
    }

    static let placement = Placement(
        instance: "demo", mode: .partialOffload,
        shares: [
            DeviceShare(
                deviceID: "gpu-0", llamaName: "Vulkan0", firstBlock: 4, blockCount: 4, holdsOutput: true, bytes: 512)
        ], offloadedBlocks: 4, offloadsOutput: true, blockCount: 8, hostBytes: 1024, reasons: ["fits"])

    /// The placement column holds the placement's fields with the backend beside them, as earlier daemons wrote
    /// it; a column in another shape reads as no placement, never as an error.
    /// The store holds the runs' environments: whoever creates it (a command, not only the daemon, whose mask is
    /// 077), it and its WAL files are the owner's only, and a file an earlier version left readable is made so.
    @Test func theStoreAndItsWALFilesAreTheOwnersOnly() throws {
        let project = try TemporaryProject("state-mode")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        let mask = umask(0o022)
        defer { umask(mask) }
        func mode(_ file: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
        }
        do {
            let (store, _) = try StateStore.open(path: path)
            try store.setDesiredState(.running, for: "demo")
            for file in [path, path + "-wal", path + "-shm"] { #expect(try mode(file) == 0o600, "\(file)") }
        }
        #expect(chmod(path, 0o644) == 0)
        _ = try StateStore.open(path: path)
        #expect(try mode(path) == 0o600)
    }

    @Test func placementColumnReadsWhatEarlierDaemonsWroteAndSurvivesGarbage() throws {
        let project = try TemporaryProject("placement-column")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        let (store, _) = try StateStore.open(path: path)
        let placement = String(decoding: try JSONEncoder().encode(Self.placement), as: UTF8.self)
        let flat = placement.dropLast() + #","backend":"vulkan"}"#
        for (runID, column) in [("flat", String(flat)), ("garbage", "not json"), ("empty", "{}")] {
            try store.recordRunStart(
                RunInfo(
                    instance: runID, runID: runID, pid: 1, processGroup: 1, processStartTime: 1, port: 1, argv: [],
                    environment: [:], startedAt: 1))
            try DatabaseQueue(path: path).write { db in
                try db.execute(sql: "UPDATE runs SET placement = ? WHERE run_id = ?", arguments: [column, runID])
            }
        }
        let runs = Dictionary(uniqueKeysWithValues: try store.openRuns().map { ($0.runID, $0) })
        #expect(runs["flat"]?.placement == Self.placement && runs["flat"]?.backend == "vulkan")
        #expect(runs["garbage"]?.placement == nil && runs["garbage"]?.backend == nil)
        #expect(runs["empty"]?.placement == nil && runs["empty"]?.backend == nil)
    }

    /// A file an earlier daemon wrote (v1 only) gains the fingerprint and measurement columns; its runs read as
    /// "unknown fingerprint, not measured"; a measurement is recorded once and read back; garbage reads as none.
    @Test func fingerprintsAndMeasurementsOnAFileFromAnEarlierDaemon() throws {
        let project = try TemporaryProject("state-v2")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        try FileManager.default.createDirectory(atPath: project.root + "/state", withIntermediateDirectories: true)
        do {
            let queue = try DatabaseQueue(path: path)
            try StateStore.migrator.migrate(queue, upTo: "v1: instances, runs, events")
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO runs (instance, run_id, pid, process_group, process_start_time, port, argv,
                                          environment, placement, started_at)
                        VALUES ('old', 'old-run', 1, 1, 1, 1, '[]', '{}', '{}', 1)
                        """)
            }
        }
        let (store, _) = try StateStore.open(path: path)
        #expect(try store.appliedMigrations().count == 4)
        let old = try #require(try store.openRuns().first)
        #expect(old.fingerprint == nil && old.measured == nil)
        let fingerprint = RunFingerprint(
            config: #"{"name":"new"}"#, model: FileStamp(path: "/m", device: 1, inode: 2, size: 3, modified: 4.5),
            binary: nil, argv: ["/b", "-c", "512"])
        try store.recordRunStart(
            RunInfo(
                instance: "new", runID: "new-run", pid: 2, processGroup: 2, processStartTime: 2, port: 2, argv: [],
                environment: [:], startedAt: 2, fingerprint: fingerprint,
                logOffsets: LogOffsets(stdout: 10, stderr: 20)))
        let measured = MeasuredAllocation(
            buffers: [.init(name: "Vulkan0", kind: .model, bytes: 123), .init(name: "CPU", kind: .compute, bytes: 4)],
            source: "server log")
        try store.recordMeasurement(runID: "new-run", measured)
        // The first measurement of a run stays.
        try store.recordMeasurement(runID: "new-run", MeasuredAllocation(buffers: [], source: "other"))
        var new = try #require(try store.runs(of: "new").first)
        #expect(new.fingerprint == fingerprint && new.measured == measured)
        #expect(new.logOffsets == LogOffsets(stdout: 10, stderr: 20) && old.logOffsets == nil)
        try DatabaseQueue(path: path).write { db in
            try db.execute(sql: "UPDATE runs SET fingerprint = 'x', measured = '[1' WHERE run_id = 'new-run'")
        }
        new = try #require(try store.runs(of: "new").first)
        #expect(new.fingerprint == nil && new.measured == nil)
    }

    /// Event details go in as a string map and come out the same, whatever characters they hold.
    @Test func routerRequestsAreKeptBoundedAndSummedPerModelOverAWindow() throws {
        let project = try TemporaryProject("state-router")
        defer { project.remove() }
        let (store, _) = try StateStore.open(path: project.root + "/state/state.sqlite")
        var records = [RouterRequestRecord(time: 900, model: "old", path: "/completion", status: 200, duration: 1)]
        for index in 0..<10 {
            // chat: one a second from t=1000, 20 generated tokens each, the last one a 502 without usage.
            records.append(
                RouterRequestRecord(
                    time: 1000 + Double(index), model: "chat", path: "/v1/chat/completions",
                    status: index == 9 ? 502 : 200, promptTokens: index == 9 ? nil : 5,
                    completionTokens: index == 9 ? nil : 20, duration: 0.5))
        }
        records.append(
            RouterRequestRecord(time: 1005, model: "embed", path: "/v1/embeddings", status: 200, duration: 0.1))
        try store.appendRouterRequests(records, keep: 11)
        // The oldest row is gone (keep 11).
        #expect(try store.routerRequests(since: 0).count == 11)
        #expect(try store.routerRequests(since: 0, model: "old").isEmpty)
        let traffic = try store.routerTraffic(since: 1004, now: 1010)
        #expect(Set(traffic.keys) == ["chat", "embed"])
        let chat = try #require(traffic["chat"])
        #expect(chat.requests == 6 && chat.errors == 1 && chat.completionTokens == 100 && chat.promptTokens == 25)
        #expect(chat.window == 6 && abs(chat.tokensPerSecond - 100.0 / 6) < 1e-9)
        #expect(traffic["embed"] == RouterTraffic(window: 6, requests: 1))
    }

    @Test func eventDetailsRoundTrip() throws {
        let project = try TemporaryProject("event-details")
        defer { project.remove() }
        let (store, _) = try StateStore.open(path: project.root + "/state/state.sqlite")
        let details = [
            "status": #"exited with "status" 1"#, "path": #"C:\models\a.gguf"#, "log": "line one\nline two\ttab\r",
            "bell": "\u{7}\u{1F}", "unicode": "Grüße 🦙", "": "empty key",
        ]
        try store.appendEvent(InstanceEvent(time: 1, instance: "x", kind: "exited", message: "m", details: details))
        try store.appendEvent(InstanceEvent(time: 2, instance: "x", kind: "plain", message: "m"))
        #expect(try store.events(of: "x").map(\.details) == [details, [:]])
    }

    @Test(arguments: ["garbage", "truncated"])
    func damagedFileIsMovedAsideAndReplaced(_ damage: String) throws {
        let project = try TemporaryProject("damaged")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        if damage == "garbage" {
            try project.write("state/state.sqlite", String(repeating: "not a database at all ", count: 400))
        } else {
            // A real store with data, then its pages past the header overwritten.
            do {
                let (store, _) = try StateStore.open(path: path)
                for index in 0..<300 {
                    try store.appendEvent(
                        InstanceEvent(time: Double(index), instance: "x", kind: "k", message: "event \(index)"))
                }
            }
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            let size = try handle.seekToEnd()
            try #require(size > 8192, "the store should span several pages")
            try handle.seek(toOffset: 4096)
            handle.write(Data(repeating: 0xA5, count: Int(size) - 4096))
            try handle.close()
        }
        let (store, warnings) = try StateStore.open(path: path)
        #expect(warnings.count == 1, "\(warnings)")
        #expect(warnings.first?.contains("damaged") == true)
        let aside = try FileManager.default.contentsOfDirectory(atPath: project.root + "/state")
            .filter { $0.hasPrefix("state.sqlite.corrupt-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(aside.count == 1, "\(aside)")
        // The new store works.
        try store.appendEvent(InstanceEvent(time: 1, instance: "y", kind: "k", message: "fresh"))
        #expect(try store.eventCount() == 1)
    }

    @Test func severalProcessesWritingAtOnceLoseNoUpdate() throws {
        let project = try TemporaryProject("multiwriter")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        _ = try StateStore.open(path: path)
        let writers = 4
        let count = 150
        let helper = CommandRunner.product("state-stress")
        try #require(FileManager.default.isExecutableFile(atPath: helper), "state-stress not built at \(helper)")
        var processes: [Process] = []
        for writer in 0..<writers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: helper)
            process.arguments = [path, String(writer), String(count)]
            try process.run()
            processes.append(process)
        }
        for process in processes {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
        }
        let (store, _) = try StateStore.open(path: path)
        #expect(try store.restartCount(for: "shared") == writers * count)
        #expect(try store.eventCount() == writers * count)
        for writer in 0..<writers {
            #expect(try store.eventCount(of: "writer-\(writer)") == count)
        }
    }

    @Test func unwritableFolderIsAClearError() throws {
        do {
            _ = try StateStore.open(path: "/proc/llama-orch-test/state.sqlite")
            Issue.record("opened a store under /proc")
        } catch {
            #expect(error.exitCode == .stateStore)
            #expect(error.description.contains("/proc/llama-orch-test"))
        }
    }
}
