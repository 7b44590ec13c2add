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
    /// The driver can't be used here, and why.
    case unavailable(UnavailableReason)

    /// The devices found, or none when the driver is unavailable.
    public var devices: [Device] {
        if case .available(let devices) = self { return devices }
        return []
    }

    /// Why the driver is unavailable, or `nil` when it is available.
    public var unavailableReason: UnavailableReason? {
        if case .unavailable(let reason) = self { return reason }
        return nil
    }
}

/// Why a driver can't be used here: a cause a program can branch on and a message a user can act on.
public struct UnavailableReason: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The broad cause.
    public enum Cause: String, Sendable, Codable {
        /// A library or program the driver needs is missing (`libvulkan.so.1`, `llama-server`).
        case missingDependency = "missing-dependency"
        /// The driver's library or program works but found no device (no Vulkan ICD, `(none)`).
        case noDevices = "no-devices"
        /// The driver's input is wrong: a malformed inventory file, a bad setting.
        case invalidInput = "invalid-input"
        /// A file the driver was told to read does not exist (an inventory file).
        case missingFile = "missing-file"
        /// An external program failed, hung or printed something the driver can't read.
        case probeFailed = "probe-failed"
        /// The driver has nothing to offer on this platform or without configuration.
        case notConfigured = "not-configured"
    }

    public var cause: Cause
    /// One line without the `unavailable:` prefix (`no Vulkan loader (libvulkan.so.1)`).
    public var message: String

    public init(_ cause: Cause, _ message: String) {
        self.cause = cause
        self.message = message
    }

    public var description: String { "unavailable: \(message)" }
}

/// A driver that was asked for by name and can't be used.
public struct DriverUnavailableError: OrchestratorError, Equatable {
    /// The driver's name.
    public var driver: String
    public var reason: UnavailableReason

    public init(driver: String, reason: UnavailableReason) {
        self.driver = driver
        self.reason = reason
    }

    /// A bad inventory file is a config error, a missing one a file not found; everything else means the backend
    /// can't be used.
    public var exitCode: OrchestratorExitCode {
        switch reason.cause {
        case .invalidInput: .configInvalid
        case .missingFile: .notFound
        case .missingDependency, .noDevices, .probeFailed, .notConfigured: .driverUnavailable
        }
    }

    public var description: String { "driver '\(driver)' is \(reason)" }
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
