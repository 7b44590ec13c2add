import ControlAPI
import Foundation
import GRDB
import OrchestratorCore
import StateStore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `up` on running instances: what changed is recreated, what did not is left alone, and it says which.
@Suite(.serialized) struct DaemonApplyTests {
    func pids(_ harness: DaemonHarness) throws -> [String: Int32] {
        var pids: [String: Int32] = [:]
        for status in try harness.ps() { pids[status.name] = status.pid }
        return pids
    }

    func editContext(_ harness: DaemonHarness, _ name: String, from old: Int, to new: Int) throws {
        let config = try #require(harness.project.read("instances/\(name)/config.json"))
        try #require(config.contains(#""context_size": \#(old)"#))
        try harness.project.writeConfig(
            name, config.replacingOccurrences(of: #""context_size": \#(old)"#, with: #""context_size": \#(new)"#))
    }

    @Test func upRecreatesExactlyTheEditedInstanceAndLeavesTheRestAlone() async throws {
        let harness = try DaemonHarness("daemon-apply")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.stubInstance("beta", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "beta", "--wait", "--timeout", "30"])
        let before = try pids(harness)
        let (alpha, beta) = (try #require(before["alpha"]), try #require(before["beta"]))

        // No edit: nothing changes, and it says so.
        let again = try harness.ok(["up", "alpha", "beta"]).stdout
        #expect(again.contains("alpha: already healthy, unchanged"), "\(again)")
        #expect(again.contains("beta: already healthy, unchanged"), "\(again)")
        #expect(try pids(harness) == before)

        try editContext(harness, "alpha", from: 256, to: 512)
        let listed = try harness.ps()
        #expect(listed.first { $0.name == "alpha" }?.configChanges == ["model.context_size 256 → 512"])
        #expect(listed.first { $0.name == "beta" }?.configChanges == nil)
        let table = try harness.ok(["ps"])
        #expect(table.stdout.contains("alpha*") && !table.stdout.contains("beta*"), "\(table.stdout)")
        #expect(table.stderr.contains("'llama-orch up NAME' recreates it"), "\(table.stderr)")
        let describe = try harness.ok(["describe", "alpha"]).stdout
        #expect(describe.contains("differs from what runs"), "\(describe)")
        #expect(describe.contains("model.context_size 256 → 512"), "\(describe)")

        // --no-recreate: today's behaviour.
        let kept = try harness.ok(["up", "alpha", "--no-recreate"]).stdout
        #expect(kept.contains("alpha: already healthy") && !kept.contains("recreated"), "\(kept)")
        #expect(try pids(harness)["alpha"] == alpha)

        let applied = try harness.ok(["up", "alpha", "beta", "--wait", "--timeout", "30"]).stdout
        #expect(applied.contains("alpha: started: recreated (model.context_size 256 → 512)"), "\(applied)")
        #expect(applied.contains("beta: already healthy, unchanged"), "\(applied)")
        let after = try pids(harness)
        #expect(after["alpha"] != nil && after["alpha"] != alpha)
        #expect(after["beta"] == beta)
        #expect(!DaemonHarness.isAlive(alpha))
        let run = try #require(try harness.store().runs(of: "alpha", limit: 1).first)
        #expect(run.isOpen && run.pid == after["alpha"])
        let context = try #require(run.argv.firstIndex(of: "-c"))
        #expect(run.argv[context + 1] == "512", "\(run.argv)")
        #expect(run.fingerprint?.argv == run.argv)
        #expect(try harness.ps().allSatisfy { $0.configChanges == nil })
        let events = try harness.store().events(of: "alpha").map(\.kind)
        #expect(events.contains("recreating"), "\(events)")

        // --force-recreate restarts an unchanged one.
        let forced = try harness.ok(["up", "beta", "--force-recreate", "--wait", "--timeout", "30"]).stdout
        #expect(forced.contains("beta: started: recreated (--force-recreate)"), "\(forced)")
        #expect(try pids(harness)["beta"] != beta)
        #expect(try harness.cli(["up", "beta", "--force-recreate", "--no-recreate"]).status == 64)
    }

    @Test func aModelFileReplacedUnderItsNameIsFoundByIdentity() async throws {
        let harness = try DaemonHarness("daemon-apply-model")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        let pid = try #require(try pids(harness)["alpha"])
        // Same name, same bytes, another file (a download that replaced it).
        let model = harness.root + "/models/dense.gguf"
        try FileManager.default.copyItem(atPath: model, toPath: model + ".new")
        #expect(rename(model + ".new", model) == 0)
        #expect(try harness.ps().first?.configChanges == ["model file replaced"])
        let applied = try harness.ok(["up", "alpha", "--wait", "--timeout", "30"]).stdout
        #expect(applied.contains("recreated (model file replaced)"), "\(applied)")
        #expect(try pids(harness)["alpha"] != pid)
    }

    @Test func aRecreatedInstanceThatNoLongerFitsSaysItWasStopped() async throws {
        let harness = try DaemonHarness("daemon-apply-nofit")
        defer { harness.cleanUp() }
        let devices = try harness.project.write(
            "devices.json", #"{"devices": [{"name": "host", "kind": "cpu", "total_mib": 1}]}"#)
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"], environment: ["LLAMA_ORCH_DEVICES": devices])
        let pid = try #require(try pids(harness)["alpha"])
        let config = try #require(harness.project.read("instances/alpha/config.json"))
        try harness.project.writeConfig(
            "alpha", config.replacingOccurrences(of: #""backend": "cpu""#, with: #""backend": "static""#))
        let up = try harness.cli(["up", "alpha"])
        #expect(up.status == 70, "\(up.stdout) \(up.stderr)")
        #expect(
            up.stderr.contains(
                "alpha: stopped to recreate (gpu.backend cpu → static), not started again: does not fit"),
            "\(up.stderr)")
        #expect(!DaemonHarness.isAlive(pid))
    }

    /// A server started by a daemon that recorded no fingerprint (its run row predates them) is re-adopted with
    /// its changes unknown: `up` leaves it and says so, `--force-recreate` restarts it.
    @Test func aRunWithoutAFingerprintIsLeftAloneAndSaysWhy() async throws {
        let harness = try DaemonHarness("daemon-apply-unknown")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "alpha", "--wait", "--timeout", "30"])
        let pid = try #require(try pids(harness)["alpha"])
        try harness.ok(["daemon", "stop", "--keep-instances"])
        try await DatabaseQueue(path: harness.root + "/state/state.sqlite").write { db in
            try db.execute(sql: "UPDATE runs SET fingerprint = NULL")
        }
        try editContext(harness, "alpha", from: 256, to: 512)
        let kept = try harness.ok(["up", "alpha"]).stdout
        #expect(kept.contains("recorded no fingerprint, so changes are unknown"), "\(kept)")
        #expect(try pids(harness)["alpha"] == pid)
        #expect(try harness.ps().first?.configChanges == nil)
        let forced = try harness.ok(["up", "alpha", "--force-recreate", "--wait", "--timeout", "30"]).stdout
        #expect(forced.contains("recreated (--force-recreate)"), "\(forced)")
        #expect(try pids(harness)["alpha"] != pid)
        #expect(try harness.store().runs(of: "alpha", limit: 1).first?.fingerprint != nil)
    }

    @Test func upAllRemoveOrphansStopsInstancesWhoseFolderIsGone() async throws {
        let harness = try DaemonHarness("daemon-apply-orphans")
        defer { harness.cleanUp() }
        try harness.stubInstance("alpha", port: try LlamaServerProbe.freePort())
        try harness.stubInstance("beta", port: try LlamaServerProbe.freePort())
        try harness.ok(["up", "--all", "--wait", "--timeout", "30"])
        let before = try pids(harness)
        let beta = try #require(before["beta"])
        try FileManager.default.removeItem(atPath: harness.root + "/instances/beta")
        #expect(try harness.cli(["up", "alpha", "--remove-orphans"]).status == 64)
        // Without the flag an orphan keeps running.
        #expect(try harness.ok(["up", "--all"]).stdout.contains("alpha: already healthy, unchanged"))
        #expect(DaemonHarness.isAlive(beta))
        let removed = try harness.ok(["up", "--all", "--remove-orphans"]).stdout
        #expect(removed.contains("beta: orphan (instances/beta is gone): stopped pid \(beta)"), "\(removed)")
        #expect(removed.contains("alpha: already healthy, unchanged"), "\(removed)")
        #expect(!DaemonHarness.isAlive(beta))
        #expect(try pids(harness)["alpha"] == before["alpha"])
    }
}
