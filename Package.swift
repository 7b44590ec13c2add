// swift-tools-version: 6.0
import PackageDescription

/// The settings of every target: Swift 6 language mode with the upcoming features on.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")
let hummingbird: Target.Dependency = .product(name: "Hummingbird", package: "hummingbird")
let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let serviceLifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals: Target.Dependency = .product(name: "UnixSignals", package: "swift-service-lifecycle")

let package = Package(
    name: "llama-orch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "llama-orch", targets: ["llama-orch"]),
        .library(name: "OrchestratorCore", targets: ["OrchestratorCore"]),
        .plugin(name: "NewDriver", targets: ["NewDriver"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // Domain types and protocols only: no C, no processes, no SQL, no network.
        .target(name: "OrchestratorCore", dependencies: [logging], swiftSettings: swiftSettings),
        .target(name: "GGUF", dependencies: ["OrchestratorCore"], swiftSettings: swiftSettings),
        // Memory estimate, placement and llama-server's command line; `PlanningRound` runs them for `plan` and `up`.
        .target(
            name: "Scheduler", dependencies: ["OrchestratorCore", "GGUF", "Drivers", "Host"],
            swiftSettings: swiftSettings),
        // Writes GGUF files: fixtures for tests, the accuracy bench and the demo model.
        .target(name: "GGUFWriter", dependencies: ["GGUF"], swiftSettings: swiftSettings),
        .executableTarget(name: "make-tiny-model", dependencies: ["GGUFWriter"], swiftSettings: swiftSettings),
        // Estimate against the real llama-server over a grid of fixtures: prints the error table.
        .executableTarget(
            name: "bench-accuracy",
            dependencies: ["GGUF", "Scheduler", "Drivers", "OrchestratorCore", "TestSupport"],
            path: "bench/accuracy",
            swiftSettings: swiftSettings
        ),
        // The leanest NIO proxy, no routing: the floor the router benchmark reads its figures against.
        .executableTarget(
            name: "bench-router-floor",
            dependencies: [
                nioCore, .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "bench/router-floor",
            swiftSettings: swiftSettings
        ),
        // One question to a daemon through PlainHTTP or AsyncHTTPClient (scripts/bench-control-client.sh).
        .executableTarget(
            name: "bench-control-client",
            dependencies: [
                "PlainHTTP", nioCore, .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "bench/control-client",
            swiftSettings: swiftSettings
        ),
        .target(name: "StateStore", dependencies: ["OrchestratorCore", grdb, logging], swiftSettings: swiftSettings),
        // Boot service units (systemd, launchd, NSSM, Task Scheduler): rendering, install and removal.
        .target(name: "BootService", dependencies: ["OrchestratorCore", "Host"], swiftSettings: swiftSettings),
        // The Vulkan headers with VK_NO_PROTOTYPES: the loader is opened at run time, never linked.
        .target(name: "CVulkan"),
        .target(
            name: "Drivers",
            dependencies: ["OrchestratorCore", "CVulkan", "Host"],
            path: "drivers",
            swiftSettings: swiftSettings,
            plugins: ["DriverRegistryPlugin"]
        ),
        .executableTarget(name: "DriverRegistryGenerator", swiftSettings: swiftSettings),
        .plugin(
            name: "DriverRegistryPlugin",
            capability: .buildTool(),
            dependencies: ["DriverRegistryGenerator"]
        ),
        // Records the git commit the CLI is built from, for `llama-orch --version`.
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        .plugin(
            name: "NewDriver",
            capability: .command(
                intent: .custom(verb: "new-driver", description: "Scaffold drivers/NAME with a driver and a test"),
                permissions: [.writeToPackageDirectory(reason: "Creates drivers/NAME and its test")]
            )
        ),
        // The operating system: spawn, /proc, liveness, ports, file identity, log tails, short-lived programs. What
        // Supervisor, Daemon, the CLI and the dashboard call; the one C shim is its own.
        .target(name: "CHostShims"),
        .target(
            name: "Host",
            dependencies: [
                "OrchestratorCore", "CHostShims", .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        // Runs llama-server processes: launcher, health checkers, restart policies, log files, re-adoption.
        .target(
            name: "Supervisor",
            dependencies: [
                "OrchestratorCore", "StateStore", "Host", logging, nioCore,
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // One blocking HTTP/1.1 exchange over a unix socket (or TCP): the CLI's control client.
        .target(name: "CPlainHTTP"),
        .target(name: "PlainHTTP", dependencies: ["CPlainHTTP"], swiftSettings: swiftSettings),
        // The daemon's control API on state/daemon.sock: HTTP server, client and the shared JSON types.
        .target(
            name: "ControlAPI",
            dependencies: [
                "OrchestratorCore", "PlainHTTP", hummingbird, .product(name: "HummingbirdCore", package: "hummingbird"),
                nioCore, .product(name: "NIOPosix", package: "swift-nio"), serviceLifecycle, logging,
            ],
            swiftSettings: swiftSettings
        ),
        // One OpenAI-compatible port for every instance: the pure load scheduler, the HTTP proxy around it, metrics.
        .target(
            name: "Router",
            dependencies: [
                "OrchestratorCore", "Host", hummingbird, .product(name: "HummingbirdCore", package: "hummingbird"),
                nioCore,
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"), logging,
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"), serviceLifecycle,
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ],
            swiftSettings: swiftSettings
        ),
        // The daemon: one supervisor per instance, placement, autostart, re-adoption, the control API service.
        .target(
            name: "Daemon",
            dependencies: [
                "OrchestratorCore", "GGUF", "Scheduler", "StateStore", "Supervisor", "Host", "Drivers",
                "ControlAPI", "Router", hummingbird, serviceLifecycle, unixSignals, logging,
            ],
            swiftSettings: swiftSettings
        ),
        // The live terminal dashboard: pure render(snapshot, state, size) -> lines, key reduction, the terminal loop,
        // the daemon-backed and the read-only sources.
        .target(
            name: "Dashboard",
            dependencies: ["OrchestratorCore", "Scheduler", "StateStore", "ControlAPI", "Host"],
            swiftSettings: swiftSettings
        ),
        // Kubernetes manifests from configs and placements (`export kubernetes`): YAML through Yams.
        .target(
            name: "KubernetesExport",
            dependencies: ["OrchestratorCore", "GGUF", "Scheduler", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "llama-orch",
            dependencies: [
                "OrchestratorCore", "GGUF", "Scheduler", "StateStore", "Drivers", "BootService", "ControlAPI", "Daemon",
                "Host", "Dashboard", "KubernetesExport", argumentParser, logging,
            ],
            swiftSettings: swiftSettings,
            plugins: ["BuildInfoPlugin"]
        ),
        // Helpers for tests and for driver authors: GGUF fixture writer, temporary project folders, CLI runner.
        .target(
            name: "TestSupport",
            dependencies: [
                "OrchestratorCore", "GGUF", "GGUFWriter", "Scheduler", "Drivers", "ControlAPI", "StateStore", "Host",
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OrchestratorCoreTests",
            dependencies: ["OrchestratorCore", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PlainHTTPTests", dependencies: ["PlainHTTP", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "GGUF", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // Test helper: one process writing to a shared state store (multi-process tests).
        .executableTarget(
            name: "state-stress",
            dependencies: ["StateStore", "OrchestratorCore"],
            path: "Tests/state-stress",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "StateStoreTests",
            dependencies: ["StateStore", "TestSupport", "state-stress", grdb],
            swiftSettings: swiftSettings
        ),
        // Test helper: a stand-in llama-server (health, completion, crashes, hangs, forks, log lines).
        .executableTarget(
            name: "stub-llama-server",
            path: "Tests/stub-llama-server",
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "HostTests", dependencies: ["Host", "TestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "SupervisorTests",
            dependencies: ["Supervisor", "StateStore", "OrchestratorCore", "TestSupport", "stub-llama-server"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DriversTests",
            dependencies: ["Drivers", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        // Golden/ holds the hand-checked units the tests compare against, read from the source tree.
        .testTarget(
            name: "BootServiceTests",
            dependencies: ["BootService", "Host", "TestSupport"],
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        // The daemon and its commands, through the built CLI: real processes, the stub and the real llama-server.
        // Golden/ holds the shapes of the JSON outputs, read from the source tree.
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "ControlAPI", "Daemon", "OrchestratorCore", "StateStore", "Supervisor", "TestSupport", "llama-orch",
                "stub-llama-server", "make-tiny-model", grdb,
                .product(name: "AsyncHTTPClient", package: "async-http-client"), nioCore,
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        // Failures users meet, end to end through the CLI and the daemon: a full disk, hung and stopped servers, a
        // corrupt state file, bad configs, orphans, wrappers, concurrent commands, the boot herd, repeated crashes.
        .testTarget(
            name: "FaultTests",
            dependencies: [
                "ControlAPI", "OrchestratorCore", "StateStore", "Host", "TestSupport", "llama-orch",
                "stub-llama-server", "make-tiny-model",
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DashboardTests",
            dependencies: [
                "Dashboard", "ControlAPI", "StateStore", "OrchestratorCore", "Scheduler", "TestSupport", "llama-orch",
                "stub-llama-server", "make-tiny-model",
            ],
            swiftSettings: swiftSettings
        ),
        // Rendered manifests against Golden/ (reviewed by hand), the Kubernetes schemas (scripts/k8s_validate.py) and
        // `export kubernetes` through the built CLI.
        .testTarget(
            name: "KubernetesExportTests",
            dependencies: [
                "KubernetesExport", "OrchestratorCore", "Scheduler", "TestSupport", "llama-orch", "make-tiny-model",
            ],
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        // The router's pure parts: the load scheduler's table of scenarios (no sleeps), body and header parsing. The
        // router through the daemon is in DaemonTests.
        .testTarget(
            name: "RouterTests",
            dependencies: [
                "Router", "OrchestratorCore", "TestSupport", logging, .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        // The CLI through its built binary (init, config, inspect, plan): the executables it runs are dependencies.
        .testTarget(
            name: "CLITests",
            dependencies: ["OrchestratorCore", "GGUF", "Scheduler", "TestSupport", "llama-orch", "make-tiny-model"],
            swiftSettings: swiftSettings
        ),
    ]
)
