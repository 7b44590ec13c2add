import Drivers
import Foundation
import GGUF
import OrchestratorCore

/// One planning round, as `plan` prints it and `up` executes it: the llama-server binary, the backend's
/// devices, each model's demand, what running instances hold, then the planner.
public struct PlanningRound: Sendable {
    /// The configs to place together (validated).
    public var configs: [InstanceConfig]
    public var root: ProjectRoot
    /// The environment drivers and the binary search see (`LLAMA_SERVER`, `PATH`, `LLAMA_ORCH_DEVICES`).
    public var environment: [String: String]
    /// `--backend`; `nil`: what the configs agree on.
    public var backend: String?
    /// `--devices-file`, for the static driver.
    public var devicesFile: String?
    public var policy: PlacementPolicy
    /// Placements of servers that run now (from their runs, measured where known) or were just placed: their
    /// bytes are held.
    public var heldPlacements: [HeldPlacement]

    public init(
        configs: [InstanceConfig], root: ProjectRoot, environment: [String: String], backend: String? = nil,
        devicesFile: String? = nil, policy: PlacementPolicy = PlacementPolicy(), heldPlacements: [HeldPlacement] = []
    ) {
        self.configs = configs
        self.root = root
        self.environment = environment
        self.backend = backend
        self.devicesFile = devicesFile
        self.policy = policy
        self.heldPlacements = heldPlacements
    }

    /// What a round decided, with the inventory it decided on.
    public struct Outcome: Sendable {
        public var report: PlanReport
        /// The driver whose devices were used (`cpu`, `vulkan`, ...).
        public var backend: String
        public var binary: LlamaServerBinary
    }

    /// Places the configs.
    ///
    /// - Throws: `PlanningError` (different backends, an unreadable model), `LlamaServerError`, the drivers'
    ///   errors (`RegistryError`, `DriverUnavailableError`).
    public func run() async throws -> Outcome {
        let prepared = try await prepare()
        let held = Planner.heldBytes(by: heldPlacements, hostID: prepared.devices.first(where: \.isHost)?.id)
        let report = prepared.planner.plan(
            prepared.inputs, backend: prepared.backend, devices: prepared.devices, heldBytes: held,
            launchSettings: prepared.launchSettings)
        return Outcome(report: report, backend: prepared.backend, binary: prepared.binary)
    }

    /// What a round plans with, before it plans: the devices as found now, each model's demand, the planner.
    public struct Prepared: Sendable {
        public var backend: String
        public var binary: LlamaServerBinary
        public var devices: [Device]
        public var inputs: [PlanningInput]
        public var planner: Planner
        public var launchSettings: @Sendable ([Device]) -> LaunchSettings
    }

    /// Finds the binary and the devices and reads the models.
    ///
    /// - Throws: as `run()`.
    public func prepare() async throws -> Prepared {
        let registry = DriverCatalog.registry()
        let backends = Set(configs.map(\.gpu.backend))
        let requested: String
        if backend != nil || devicesFile != nil {
            requested = DeviceInventory.backend(requested: backend, devicesFileOption: devicesFile)
        } else if backends.count == 1, let only = backends.first {
            requested = only
        } else {
            throw PlanningError.mixedBackends(configs.map { "\($0.name): \($0.gpu.backend)" })
        }
        let locator = LlamaServerLocator(
            environment: environment, projectRoot: root,
            cacheFile: LlamaServerLocator.defaultCacheFile(environment: environment))
        let configured = Set(configs.compactMap(\.binary.resolvedPath))
        let binary = try await locator.binary(configured: configured.count == 1 ? configured.first : nil)
        let context = DriverContext(
            environment: environment, devicesFile: devicesFile, llamaServer: binary.path, projectRoot: root.path)
        let inventory = try await DeviceInventory.discover(backend: requested, registry: registry, context: context)
        var inputs: [PlanningInput] = []
        for config in configs {
            do {
                inputs.append(try PlanningInput.load(config, binary: binary, devices: inventory.devices))
            } catch let error as GGUFError {
                throw PlanningError.model(config.name, config.model.resolvedPath, error.description)
            }
        }
        // For tests only: an estimate made to differ from what the server allocates, so that a test can tell
        // which of the two a later placement counted.
        if let mib = environment[Self.testEstimateOffsetVariable].flatMap(UInt64.init) {
            for index in inputs.indices {
                inputs[index].demand.hostBaseBytes += mib << 20
                inputs[index].demand.perDeviceBytes += mib << 20
            }
        }
        let planner = Planner(policy: policy, binary: binary, defaultThreads: HostResources.physicalCores())
        return Prepared(
            backend: inventory.backend, binary: binary, devices: inventory.devices, inputs: inputs, planner: planner,
            launchSettings: { inventory.launchSettings(for: $0) })
    }

    /// Adds this many MiB to every estimate's host and per-device bytes (tests only; see `run`).
    public static let testEstimateOffsetVariable = "LLAMA_ORCH_TEST_ESTIMATE_OFFSET_MIB"

    /// The placements recorded with runs, with what each measured; runs without a placement are skipped.
    public static func placements(of runs: [RunInfo]) -> [HeldPlacement] {
        HeldPlacement.of(runs)
    }
}

/// A planning round could not start.
public enum PlanningError: OrchestratorError, Equatable {
    /// The configs name different backends and none was given.
    case mixedBackends([String])
    /// A model file could not be read as GGUF: instance, path, reason.
    case model(String, String, String)

    public var exitCode: OrchestratorExitCode {
        switch self {
        case .mixedBackends: .usage
        case .model: .modelInvalid
        }
    }

    public var description: String {
        switch self {
        case .mixedBackends(let list):
            "the instances name different backends (\(list.joined(separator: ", "))); pass --backend to plan them together"
        case .model(let name, let path, let reason): "\(name): model \(path): \(reason)"
        }
    }
}
