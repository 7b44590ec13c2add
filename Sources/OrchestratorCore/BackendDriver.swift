/// A pluggable source of devices: finds what exists and how much memory is free, and says how
/// llama-server is told to use a device.
///
/// Drivers live in `drivers/<name>/`; a build-tool plugin lists every type conforming to this
/// protocol, so a new driver is one folder and a rebuild. A driver implements `probe()` and, when its
/// devices need more than `--device NAME`, `launchSettings(for:)`.
public protocol BackendDriver: Sendable {
    /// The name configs and `--backend` use (`vulkan`, `cpu`); lowercase, unique.
    static var name: String { get }
    /// One line for `llama-orch drivers`.
    static var summary: String { get }
    /// Creates the driver; it must not touch hardware until `probe()`.
    init(context: DriverContext)
    /// Finds the devices, or says why the driver can't be used here.
    func probe() async -> DriverProbe
    /// The `--device` names and environment llama-server needs to run on `devices`.
    func launchSettings(for devices: [Device]) -> LaunchSettings
}

extension BackendDriver {
    /// Devices are passed by llama.cpp name, host memory needs nothing.
    public func launchSettings(for devices: [Device]) -> LaunchSettings {
        LaunchSettings(deviceNames: devices.compactMap(\.llamaName), environment: [:])
    }

    public var name: String { Self.name }
    public var summary: String { Self.summary }
}

/// What a driver's probe found.
public enum DriverProbe: Sendable, Equatable {
    /// The driver works; the devices may include a host (`cpu`) entry.
    case available([Device])
    /// The driver can't be used here, and why, in words a user can act on.
    case unavailable(reason: String)

    public var devices: [Device] {
        if case .available(let devices) = self { return devices }
        return []
    }
}

/// How llama-server is told to use the chosen devices.
public struct LaunchSettings: Sendable, Equatable, Codable {
    /// Values for `--device` (`Vulkan0`), in order; empty means llama-server's default choice.
    public var deviceNames: [String]
    /// Environment variables to set (`GGML_VK_VISIBLE_DEVICES`).
    public var environment: [String: String]

    public init(deviceNames: [String], environment: [String: String]) {
        self.deviceNames = deviceNames
        self.environment = environment
    }
}

/// What a driver may look at when it is created: nothing global, all passed in.
public struct DriverContext: Sendable {
    /// The process environment (`LLAMA_ORCH_DEVICES`, `GGML_VK_VISIBLE_DEVICES`, ...).
    public var environment: [String: String]
    /// An inventory file for the static driver (`--devices-file`).
    public var devicesFile: String?
    /// The llama-server binary, for drivers that ask it (`--list-devices`).
    public var llamaServer: String?
    /// The project root, when there is one.
    public var projectRoot: String?
    /// How long a driver may wait on an external program, in seconds.
    public var timeout: Double

    public init(
        environment: [String: String] = [:], devicesFile: String? = nil, llamaServer: String? = nil,
        projectRoot: String? = nil, timeout: Double = 10
    ) {
        self.environment = environment
        self.devicesFile = devicesFile
        self.llamaServer = llamaServer
        self.projectRoot = projectRoot
        self.timeout = timeout
    }
}

/// A driver type as the registry holds it.
public typealias DriverRegistry = Registry<any BackendDriver.Type>

extension Registry where Entry == any BackendDriver.Type {
    /// A registry of driver types, listed by name.
    public init(drivers: [any BackendDriver.Type]) {
        self.init(kind: "driver", drivers.map { ($0.name, $0) })
    }
}
