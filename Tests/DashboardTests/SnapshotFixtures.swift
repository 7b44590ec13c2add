import Dashboard
import OrchestratorCore
import Scheduler

/// Snapshots in the states a person watching a box meets: healthy, loading, failed, crash-looping.
enum SnapshotFixtures {
    static let now = 1_800_000_000.0
    static let gib: UInt64 = 1 << 30

    static func placement(_ name: String, device: String, bytes: UInt64, host: UInt64) -> Placement {
        Placement(
            instance: name, mode: .singleGPU,
            shares: [
                DeviceShare(
                    deviceID: "gpu0", llamaName: device, firstBlock: 0, blockCount: 32, holdsOutput: true,
                    bytes: bytes)
            ],
            offloadedBlocks: 32, offloadsOutput: true, blockCount: 32, hostBytes: host,
            reasons: ["\(device) holds it all: needs \(formatBytes(bytes))"])
    }

    /// Four instances on one GPU and the host, daemon running.
    static func busy() -> DashboardSnapshot {
        let chat = InstanceRow(
            name: "chat", state: .healthy, health: "ok", pid: 4101, port: 8001, backend: "vulkan", device: "Vulkan0",
            model: "llama-3.1-8b-instruct-Q4_K_M.gguf", contextSize: 8192, slots: 4, estimatedBytes: 6 * gib,
            reportedBytes: 6 * gib + 200 << 20, startedAt: now - 3 * 3600 - 125, restarts: 0, desired: .running,
            command: ["/usr/bin/llama-server", "-m", "/models/llama.gguf", "--port", "8001"],
            placement: placement("chat", device: "Vulkan0", bytes: 5 * gib, host: gib),
            logPath: "/p/logs/chat/stderr.log")
        let code = InstanceRow(
            name: "code", state: .loading, health: "loading", pid: 4202, port: 8002, backend: "vulkan",
            device: "Vulkan0", model: "qwen2.5-coder-7b-Q8_0.gguf", contextSize: 16384, slots: 2,
            estimatedBytes: 9 * gib, startedAt: now - 12, restarts: 0, desired: .running)
        let embed = InstanceRow(
            name: "embed", state: .failed, health: "gone", port: 8003, backend: "cpu", device: "host",
            model: "nomic-embed.gguf", contextSize: 2048, slots: 1, restarts: 5, desired: .running)
        let flaky = InstanceRow(
            name: "flaky", state: .restarting, health: "3/3 failed", pid: nil, port: 8004, backend: "vulkan",
            device: "Vulkan0", model: "mistral-7b.gguf", contextSize: 4096, slots: 1, estimatedBytes: 5 * gib,
            startedAt: nil, restarts: 3, desired: .running)
        let devices = [
            DeviceUsage(
                id: "gpu0", name: "Vulkan0", description: "NVIDIA RTX 4090", totalBytes: 24 * gib,
                freeBytes: 7 * gib,
                holdings: [.init(instance: "chat", bytes: 5 * gib), .init(instance: "code", bytes: 9 * gib)]),
            DeviceUsage(
                id: "cpu", name: "host", description: "host memory", totalBytes: 64 * gib, freeBytes: 40 * gib,
                holdings: [.init(instance: "chat", bytes: gib)]),
        ]
        let events: [String: [InstanceEvent]] = [
            "chat": [
                InstanceEvent(
                    id: 1, time: now - 3 * 3600 - 125, instance: "chat", kind: "started",
                    message: "pid 4101 on port 8001"
                ),
                InstanceEvent(
                    id: 2, time: now - 3 * 3600 - 100, instance: "chat", kind: "state",
                    message: "loading → healthy: probe passed", details: ["from": "loading", "to": "healthy"]),
            ]
        ]
        return DashboardSnapshot(
            time: now, daemon: DaemonStatus(running: true, summary: "running (pid 900)"), devices: devices,
            instances: [chat, code, embed, flaky], events: events,
            logTail: LogTail(
                instance: "chat", path: "/p/logs/chat/stderr.log",
                lines: ["main: server is listening on http://127.0.0.1:8001", "srv  update_slots: all slots are idle"]))
    }

    /// The same instances seen without the daemon.
    static func readOnly() -> DashboardSnapshot {
        var snapshot = busy()
        snapshot.daemon = DaemonStatus(
            running: false, summary: "not running",
            banner: "daemon not running: read-only view from state/state.sqlite")
        return snapshot
    }

    /// Many instances: more rows than the screen has.
    static func crowded(_ count: Int) -> DashboardSnapshot {
        var snapshot = busy()
        snapshot.instances = (0..<count).map { index in
            InstanceRow(
                name: "model-\(index < 10 ? "0" : "")\(index)", state: index % 3 == 0 ? .healthy : .loading,
                health: "ok", pid: Int32(5000 + index), port: 9000 + index, backend: "vulkan", device: "Vulkan0",
                model: "m\(index).gguf", estimatedBytes: UInt64(index) * gib, restarts: index % 4)
        }
        return snapshot
    }
}
