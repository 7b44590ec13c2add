import Foundation
import Host
import OrchestratorCore
import StateStore
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The supervisor against real processes (the stub server): restarts, backoff, health, stop. Serialized:
/// each test measures time and counts processes.
@Suite(.serialized) struct InstanceSupervisorTests {
    @Test func killedServerRestartsWithBackoffAndNeverTwoAtOnce() async throws {
        let harness = try SupervisorHarness("backoff")
        let settings = SupervisorHarness.settings(initialDelay: 0.2, multiplier: 2, maxDelay: 0.8)
        try await harness.with(try harness.supervisor(harness.spec(), settings)) { supervisor in
            try await supervisor.start()
            // Counts this instance's server groups all along.
            let sampler = Task {
                var most = 0
                while !Task.isCancelled {
                    most = max(most, Set(harness.leftovers().map(\.processGroup)).count)
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return most
            }
            var pid: Int32?
            for _ in 0..<4 {
                #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: pid))
                pid = await supervisor.pid
                kill(try #require(pid), SIGKILL)
            }
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: pid))
            sampler.cancel()
            #expect(await sampler.value == 1, "two servers of one instance ran at once")

            let runs = try harness.runs()
            #expect(runs.count == 5)
            let states = try harness.events("state").map(\.message)
            let expected = [0.2, 0.4, 0.8, 0.8]
            for (index, delay) in expected.enumerated() {
                // The delay chosen, exactly (the manual-clock test shows the wait is the delay announced); the
                // gap in real time is at least that, and not much more on a busy machine.
                #expect(
                    states.contains {
                        $0.hasPrefix("healthy → restarting: killed by signal 9; restart \(index + 1) in \(delay) s")
                    }, "\(states)")
                let ended = try #require(runs[index].endedAt)
                let gap = runs[index + 1].startedAt - ended
                #expect(gap >= delay - 0.01 && gap <= delay + 2, "restart \(index + 1): \(gap) s, expected \(delay)")
                #expect(runs[index].exitSignal == SIGKILL)
            }
            #expect(try harness.store.restartCount(for: harness.instance) == 4)
        }
    }

    @Test func backoffStartsOverAfterAStableRun() async throws {
        let harness = try SupervisorHarness("reset")
        // Stable after 2 s: the kills right after `healthy` come well before, the one after 2.5 s after it.
        let settings = SupervisorHarness.settings(initialDelay: 0.1, multiplier: 3, maxDelay: 5, resetAfter: 2)
        try await harness.with(try harness.supervisor(harness.spec(), settings)) { supervisor in
            try await supervisor.start()
            var pid: Int32?
            for _ in 0..<2 {
                #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: pid))
                pid = await supervisor.pid
                kill(try #require(pid), SIGKILL)
            }
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: pid))
            try await Task.sleep(for: .milliseconds(2500))
            pid = await supervisor.pid
            kill(try #require(pid), SIGKILL)
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: pid))
            let restarts = try harness.events("state").map(\.message).filter { $0.contains("→ restarting") }
            #expect(restarts.count == 3)
            #expect(restarts.map { $0.contains("restart 1 in 0.1 s") } == [true, false, true], "\(restarts)")
            #expect(try harness.events("backoff-reset").count == 1)
            #expect(try harness.store.restartCount(for: harness.instance) == 1)
        }
    }

    @Test func afterMaxRetriesTheInstanceIsFailedAndNothingMoreStarts() async throws {
        let harness = try SupervisorHarness("maxretries")
        let settings = SupervisorHarness.settings(initialDelay: 0.05, maxRetries: 2)
        let spec = harness.spec(["--crash-after", "0.1"])
        try await harness.with(try harness.supervisor(spec, settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .failed, supervisor))
            #expect(try harness.runs().count == 3)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try harness.runs().count == 3)
            #expect(harness.leftovers().isEmpty)
            let last = try #require(try harness.events("state").last)
            #expect(last.message.contains("→ failed: exited with status 3; gave up after 2 restarts"))
            // `up` again: a fresh set of retries.
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .failed, supervisor))
            #expect(try harness.runs().count == 6)
            #expect(try harness.store.restartCount(for: harness.instance) == 2)
        }
    }

    @Test func stoppedServerTurnsUnhealthyAndIsRestarted() async throws {
        let harness = try SupervisorHarness("sigstop")
        let settings = SupervisorHarness.settings(timeout: 0.2, retries: 3, startPeriod: 2, stopGrace: 0.5)
        try await harness.with(try harness.supervisor(harness.spec(), settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            let pid = try #require(await supervisor.pid)
            kill(pid, SIGSTOP)
            // `unhealthy` lasts only while the server is taken down: the events show it.
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: pid))
            #expect(!isAlive(pid))
            let states = try harness.events("state").map(\.message)
            #expect(states.contains { $0.hasPrefix("healthy → unhealthy: 3 probes failed in a row") })
            #expect(try harness.events("probe-failed").count >= 3)
            // SIGTERM after SIGCONT ended it: no SIGKILL was needed.
            #expect(try harness.runs().first?.exitSignal == SIGTERM)
        }
    }

    @Test func slowButPassingHealthCheckIsNoReasonToRestart() async throws {
        let harness = try SupervisorHarness("slow")
        // Each probe takes 0.2 s, well within its timeout, whatever else the machine is doing.
        let settings = SupervisorHarness.settings(timeout: 2, retries: 1, startPeriod: 2)
        let spec = harness.spec(["--health-delay", "0.2"])
        try await harness.with(try harness.supervisor(spec, settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            try await Task.sleep(for: .seconds(1))
            #expect(await supervisor.state == .healthy)
            #expect(try harness.runs().count == 1)
            #expect(try harness.events("probe-failed").isEmpty)
        }
    }

    @Test func loadingCountsOnlyAgainstTheStartPeriod() async throws {
        let harness = try SupervisorHarness("loading")
        // Loads for 0.8 s with a start period of 5 s and a single allowed failure: no restart.
        let settings = SupervisorHarness.settings(retries: 1, startPeriod: 5)
        try await harness.with(try harness.supervisor(harness.spec(["--load-time", "0.8"]), settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            #expect(try harness.runs().count == 1)
            #expect(try harness.events("probe-failed").isEmpty)
            let states = try harness.events("state").map(\.message)
            #expect(
                states.prefix(3).map { $0.components(separatedBy: ":").first ?? "" } == [
                    "stopped → starting", "starting → loading", "loading → healthy",
                ])
            #expect(states[1].contains("503"))
            // The same changes come out of the stream, in order.
            var changes = supervisor.transitions.makeAsyncIterator()
            var seen: [InstanceState] = []
            for _ in 0..<3 { seen += [await changes.next()?.to].compactMap { $0 } }
            #expect(seen == [.starting, .loading, .healthy])
        }
    }

    @Test func loadingPastTheStartPeriodMakesItUnhealthy() async throws {
        let harness = try SupervisorHarness("loadslow")
        let settings = SupervisorHarness.settings(retries: 2, startPeriod: 0.6, maxRetries: 0)
        try await harness.with(try harness.supervisor(harness.spec(["--load-time", "30"]), settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .failed, supervisor))
            let states = try harness.events("state").map(\.message)
            #expect(states.contains { $0.hasPrefix("loading → unhealthy: 2 probes failed in a row, last: loading") })
            #expect(states.last?.contains("gave up after 0 restarts") == true)
            #expect(!states.contains { $0.contains("→ healthy") })
        }
    }

    @Test func portHeldByAnotherProcessIsAClearErrorNamingIt() async throws {
        let harness = try SupervisorHarness("port")
        let port = SupervisorHarness.freePort()
        let holder = TestChild(SupervisorHarness.stubPath, ["--port", "\(port)"], quiet: true)
        defer { holder.stop() }
        try holder.start()
        // Wait until it listens.
        try #require(
            await SupervisorHarness.eventually(within: .seconds(10)) {
                !PortInspector.canBind(host: "127.0.0.1", port: port)
            })
        try await harness.with(try harness.supervisor(harness.spec(port: port), SupervisorHarness.settings())) {
            supervisor in
            do {
                try await supervisor.start()
                Issue.record("start succeeded on a port another process holds")
            } catch let error as SupervisorError {
                guard case .portInUse(let reported, let who) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(reported == port)
                #expect(who?.pid == holder.pid)
                #expect(error.description.contains("port \(port) is already in use by pid \(holder.pid)"))
                #expect(error.description.contains("stub-llama-serv"))
            }
            #expect(await supervisor.state == .failed)
            #expect(try harness.runs().isEmpty)
            #expect(!(try harness.events("state").contains { $0.message.contains("healthy") }))
        }
    }

    @Test func racingCommandsNeverLeaveTwoServersOrAnOrphan() async throws {
        let harness = try SupervisorHarness("race")
        try await harness.with(try harness.supervisor(harness.spec(), SupervisorHarness.settings())) { supervisor in
            let starts = (0..<3).map { _ in
                Task { () -> Bool in
                    do {
                        try await supervisor.start()
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var succeeded = 0
            for start in starts where await start.value { succeeded += 1 }
            #expect(succeeded == 1)
            #expect(Set(harness.leftovers().map(\.processGroup)).count == 1)
            await supervisor.stop()
            // A stop that arrives while a start is still launching waits for it and takes the server down.
            let start = Task { try await supervisor.start() }
            #expect(await SupervisorHarness.wait(for: .starting, supervisor))
            await supervisor.stop()
            #expect(harness.leftovers().isEmpty)
            #expect(await supervisor.state == .stopped)
            _ = await start.result
        }
    }

    @Test func aMissingBinaryIsAClearErrorAndAFailedInstance() async throws {
        let harness = try SupervisorHarness("nobinary")
        var spec = harness.spec()
        spec.argv[0] = harness.project.root + "/bin/llama-server"
        try await harness.with(try harness.supervisor(spec, SupervisorHarness.settings())) { supervisor in
            do {
                try await supervisor.start()
                Issue.record("a missing binary started")
            } catch let error as SupervisorError {
                #expect(error.exitCode == .binaryMissing)
                #expect(error.description.hasPrefix("cannot start \(spec.argv[0]): no such file"))
            }
            #expect(await supervisor.state == .failed)
            #expect(try harness.runs().isEmpty)
        }
    }

    @Test func aStrangerAnsweringOnThePortIsNeverTakenForTheServer() async throws {
        let harness = try SupervisorHarness("stranger")
        // The server is told another port than the one probed, and a stranger takes the probed one after the
        // port check: it answers 200 on /health, but it is not ours.
        let port = SupervisorHarness.freePort()
        var spec = harness.spec(port: port)
        spec.argv[2] = "\(SupervisorHarness.freePort())"
        // A start period long enough for the stranger to be listening before failures count.
        let settings = SupervisorHarness.settings(retries: 2, startPeriod: 3, maxRetries: 0)
        let stranger = TestChild(SupervisorHarness.stubPath, ["--port", "\(port)"], quiet: true)
        defer { stranger.stop() }
        try await harness.with(try harness.supervisor(spec, settings)) { supervisor in
            try await supervisor.start()
            try stranger.start()
            #expect(await SupervisorHarness.wait(for: .failed, supervisor))
            let states = try harness.events("state").map(\.message)
            #expect(!states.contains { $0.contains("→ healthy") }, "\(states)")
            let failures = try harness.events("probe-failed").map(\.message)
            #expect(
                failures.contains { $0.contains("answered by pid \(stranger.pid) (stub-llama-serv)") })
        }
    }

    @Test func backoffWaitsOnTheInjectedClock() async throws {
        let harness = try SupervisorHarness("manualclock")
        let clock = ManualClock()
        // A 30 s backoff that passes in no real time: only the manual clock moves it.
        let settings = SupervisorHarness.settings(interval: 1, initialDelay: 30, maxDelay: 300)
        let spec = harness.spec(["--crash-after", "0.05"])
        try await harness.with(try harness.supervisor(spec, settings, clock: clock)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .restarting, supervisor))
            try await Task.sleep(for: .milliseconds(200))
            #expect(try harness.runs().count == 1)
            #expect(await clock.waitForSleepers(1))
            clock.advance(by: .seconds(29))
            try await Task.sleep(for: .milliseconds(200))
            #expect(try harness.runs().count == 1)
            #expect(await supervisor.state == .restarting)
            clock.advance(by: .seconds(1))
            #expect(try await SupervisorHarness.eventually { try harness.runs().count == 2 })
            let restarting = try harness.events("state").map(\.message).filter { $0.contains("→ restarting") }
            #expect(restarting.first?.hasSuffix("exited with status 3; restart 1 in 30 s") == true, "\(restarting)")
        }
    }

    @Test func stopLeavesNothingOfAForkingServerThatIgnoresSIGTERM() async throws {
        let harness = try SupervisorHarness("fork")
        let settings = SupervisorHarness.settings(stopGrace: 0.3)
        let spec = harness.spec(["--fork-grandchild", "--ignore-sigterm"])
        try await harness.with(try harness.supervisor(spec, settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            let group = try #require(await supervisor.currentRun?.processGroup)
            #expect(livingMembers(ofGroup: group).count == 2)
            let started = ContinuousClock.now
            await supervisor.stop()
            #expect(
                ContinuousClock.now - started >= .milliseconds(300), "SIGTERM is ignored: the grace period runs out")
            #expect(livingMembers(ofGroup: group).isEmpty)
            #expect(await supervisor.state == .stopped)
            #expect(try harness.runs().first?.exitSignal == SIGKILL)
        }
    }

    @Test func aCrashedServerLeavesNoGrandchildHoldingThePort() async throws {
        let harness = try SupervisorHarness("orphan")
        let spec = harness.spec(["--fork-grandchild", "--crash-after", "0.3"])
        try await harness.with(try harness.supervisor(spec, SupervisorHarness.settings(), policy: "never")) {
            supervisor in
            try await supervisor.start()
            let group = try #require(await supervisor.currentRun?.processGroup)
            #expect(await SupervisorHarness.wait(for: .failed, supervisor))
            #expect(livingMembers(ofGroup: group).isEmpty)
            #expect(PortInspector.canBind(host: "127.0.0.1", port: spec.port))
        }
    }

    @Test func logsGoStraightToFilesAndStayBoundedUnderRotation() async throws {
        let harness = try SupervisorHarness("logs")
        let limit = 16 * 1024
        let settings = SupervisorHarness.settings(
            logRotation: LogRotation(maxBytes: limit, keep: 2), logCheckInterval: 0.05)
        try await harness.with(try harness.supervisor(harness.spec(["--log-interval", "0.001"]), settings)) {
            supervisor in
            try await supervisor.start()
            let logs = InstanceLogs(root: harness.project.root, instance: harness.instance)
            // The server writes to the files itself, appending; it holds nothing else of ours (the state store).
            let pid = try #require(await supervisor.pid)
            let manager = FileManager.default
            #expect(try manager.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/0") == "/dev/null")
            #expect(try manager.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/1").hasSuffix("/stdout.log"))
            #expect(try manager.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/2").hasSuffix("/stderr.log"))
            let info = try String(contentsOfFile: "/proc/\(pid)/fdinfo/1", encoding: .utf8)
            let flags = info.split(separator: "\n").first { $0.hasPrefix("flags:") }.flatMap {
                Int($0.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8)
            }
            #expect((try #require(flags)) & Int(O_APPEND) != 0)
            let open = try manager.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
                try? manager.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
            }
            #expect(!open.contains { $0.contains("state.sqlite") }, "\(open)")
            var largest = 0
            for _ in 0..<30 {
                try await Task.sleep(for: .milliseconds(50))
                for path in [logs.stdoutPath, logs.stderrPath] {
                    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                    largest = max(largest, size)
                }
            }
            // The server writes ~80 KB/s per stream; checks every 50 ms keep the live file near the limit.
            #expect(largest < limit * 3, "live log reached \(largest) bytes")
            #expect(await supervisor.state == .healthy)
            // Look at the files once nothing rotates them any more: a look during a rotation (between the shift
            // of `.1` to `.2` and the new copy) would see a half-done one.
            await supervisor.stop()
            let files = try FileManager.default.contentsOfDirectory(atPath: logs.folder).sorted()
            #expect(
                files == ["stderr.log", "stderr.log.1", "stderr.log.2", "stdout.log", "stdout.log.1", "stdout.log.2"])
            let rotated = try String(contentsOfFile: logs.stdoutPath + ".1", encoding: .utf8)
            #expect(rotated.contains("stdout line"))
            #expect(!rotated.contains("stderr line"))
        }
    }

    @Test func aServerIsFoundHealthyAtTheStartIntervalNotTheNextInterval() async throws {
        let harness = try SupervisorHarness("start-interval")
        // Probes every 30 s once healthy, every 50 ms until then: a server that loads in 0.3 s is healthy within a
        // few seconds, not at the first 30 s probe.
        let settings = SupervisorHarness.settings(interval: 30, startInterval: 0.05)
        try await harness.with(try harness.supervisor(harness.spec(["--load-time", "0.3"]), settings)) { supervisor in
            let started = ContinuousClock.now
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, within: .seconds(15)))
            let took = ContinuousClock.now - started
            #expect(took >= .milliseconds(300) && took < .seconds(10), "healthy after \(took)")
        }
    }

    @Test func waitForStateReturnsAtTheTransitionOrWhenCancelled() async throws {
        let harness = try SupervisorHarness("wait-state")
        // The first probe after the pass is 30 s later: a waiter that returned only then would be seen.
        let settings = SupervisorHarness.settings(interval: 30, startInterval: 0.02)
        try await harness.with(try harness.supervisor(harness.spec(["--load-time", "0.3"]), settings)) { supervisor in
            // Already in the state: at once.
            await supervisor.waitForState([.stopped])
            let started = ContinuousClock.now
            try await supervisor.start()
            // A waiter for a state that never comes ends when its task is cancelled.
            let never = Task { await supervisor.waitForState([.failed]) }
            await supervisor.waitForState([.healthy])
            let took = ContinuousClock.now - started
            #expect(await supervisor.state == .healthy)
            #expect(took >= .milliseconds(250) && took < .seconds(10), "healthy after \(took)")
            never.cancel()
            // Raced against a timeout, so that a waiter that never ends fails the test instead of hanging it.
            let first = await withTaskGroup(of: String.self) { group in
                group.addTask {
                    await never.value
                    return "ended"
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(10))
                    return "timed out"
                }
                let first = await group.next() ?? ""
                group.cancelAll()
                return first
            }
            #expect(first == "ended")
            #expect(await supervisor.state == .healthy)
        }
    }

    @Test func anImmediateRestartRecordsTheOldRunBeforeTheNewServersStart() async throws {
        let harness = try SupervisorHarness("immediate")
        let settings = SupervisorHarness.settings(initialDelay: 0)
        try await harness.with(try harness.supervisor(harness.spec(), settings)) { supervisor in
            try await supervisor.start()
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor))
            let first = try #require(await supervisor.pid)
            kill(first, SIGKILL)
            #expect(await SupervisorHarness.wait(for: .healthy, supervisor, notPID: first))
            // The writes held back while the new server started are all there, in the order things happened.
            let kinds = try harness.store.events(of: harness.instance, limit: 100).sorted { $0.id < $1.id }.map {
                $0.kind == "state" ? $0.message.components(separatedBy: ":").first ?? "" : $0.kind
            }
            let restart = try #require(kinds.firstIndex(of: "exited"))
            #expect(
                Array(kinds[restart...].prefix(4)) == [
                    "exited", "healthy → restarting", "restarting → starting", "started",
                ],
                "\(kinds)")
            let runs = try harness.runs()
            #expect(runs.count == 2)
            #expect(runs[0].endedAt != nil && runs[0].pid == first)
            #expect(runs[1].endedAt == nil)
            #expect(try harness.store.restartCount(for: harness.instance) == 1)
        }
    }
}
