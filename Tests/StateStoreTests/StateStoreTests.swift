import Foundation
import OrchestratorCore
import StateStore
import TestSupport
import Testing

@Suite(.serialized) struct StateStoreTests {
    @Test func migratesAFreshFileAndKeepsData() throws {
        let project = try TemporaryProject("state")
        defer { project.remove() }
        let path = project.root + "/state/state.sqlite"
        do {
            let (store, warnings) = try StateStore.open(path: path)
            #expect(warnings.isEmpty)
            #expect(try store.appliedMigrations() == ["v1: instances, runs, events"])
            try store.setDesiredState(.running, for: "demo")
            let run = try store.recordRunStart(
                RunInfo(
                    instance: "demo", runID: "run-1", pid: 4242, processGroup: 4242, processStartTime: 123_456,
                    port: 8001,
                    argv: ["llama-server", "-m", "m.gguf"], environment: ["LLAMA_ORCH_RUN_ID": "run-1"],
                    placementJSON: #"{"mode":"cpu"}"#, startedAt: 1000))
            #expect(run.id > 0)
            try store.appendEvent(InstanceEvent(time: 1001, instance: "demo", kind: "state", message: "starting"))
        }
        // Reopen: migrations are not reapplied and the data is there.
        let (store, _) = try StateStore.open(path: path)
        #expect(try store.appliedMigrations().count == 1)
        #expect(try store.desiredStates() == ["demo": .running])
        let open = try store.openRuns()
        #expect(open.count == 1)
        #expect(open.first?.argv == ["llama-server", "-m", "m.gguf"])
        #expect(open.first?.processStartTime == 123_456)
        try store.recordRunEnd(id: open[0].id, at: 2000, exitStatus: nil, exitSignal: 9)
        #expect(try store.openRuns().isEmpty)
        #expect(try store.runs(of: "demo").first?.exitSignal == 9)
        #expect(try store.events(of: "demo").map(\.message) == ["starting"])
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
