import Foundation
import OrchestratorCore
import TestSupport
import Testing

@testable import Supervisor

/// The `process` checker reads each server's `/proc/<pid>/stat` through one descriptor kept open, and lets it
/// go when the process is gone.
@Suite(.serialized) struct ProcessStatFilesTests {
    @Test func oneDescriptorPerProcessReadAgainUntilTheProcessIsGone() async throws {
        let sleeper = try TestChild.sleeper()
        defer { sleeper.stop() }
        let pid = sleeper.pid
        let target = HealthCheckTarget(host: "127.0.0.1", port: 1, pid: pid, timeout: .seconds(1))
        let checker = ProcessHealthChecker()
        let before = ProcessStatFiles.shared.count
        for _ in 0..<3 { #expect(await checker.check(target) == .healthy) }
        #expect(ProcessStatFiles.shared.count == before + 1, "one descriptor for three probes")
        kill(pid, SIGSTOP)
        #expect(
            await SupervisorHarness.eventually {
                await checker.check(target) == .failed("process \(pid) is stopped")
            })
        sleeper.stop()
        #expect(await checker.check(target) == .failed("process \(pid) is gone"))
        #expect(ProcessStatFiles.shared.count == before, "the descriptor of a process that is gone is closed")
    }
}
