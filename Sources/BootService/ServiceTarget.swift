/// The service managers `llama-orch service` writes for: systemd and launchd install here; the Windows ones
/// are text to run on Windows.
public enum ServiceTarget: String, Sendable, CaseIterable, Codable {
    /// A systemd unit (`llama-orch.service`).
    case systemd
    /// A launchd property list (LaunchAgent for a user, LaunchDaemon for the system).
    case launchd
    /// NSSM commands that make the daemon a Windows service.
    case nssm
    /// A Task Scheduler task, as the XML `schtasks /Create /XML` imports.
    case schtasks

    /// The platform's own service manager: launchd on macOS, NSSM on Windows, systemd elsewhere.
    public static var platformDefault: ServiceTarget {
        #if os(macOS)
            .launchd
        #elseif os(Windows)
            .nssm
        #else
            .systemd
        #endif
    }

    /// Whether `service install` writes a file and runs the manager here, or only prints text to run on Windows.
    public var installsHere: Bool { self == .systemd || self == .launchd }

    /// The file name the unit is written as: `llama-orch.service`, `llama-orch.plist`, `llama-orch.cmd`,
    /// `llama-orch.xml`.
    public func fileName(serviceName: String) -> String {
        switch self {
        case .systemd: serviceName + ".service"
        case .launchd: serviceName + ".plist"
        case .nssm: serviceName + ".cmd"
        case .schtasks: serviceName + ".xml"
        }
    }
}

/// Whether the daemon runs for one user (started when the user's service manager starts) or for the whole
/// machine (started at boot).
public enum ServiceScope: String, Sendable, CaseIterable, Codable {
    /// A user unit: `systemctl --user`, a LaunchAgent, a task triggered at the user's logon.
    case user
    /// A system unit: `/etc/systemd/system`, a LaunchDaemon, a task triggered at boot.
    case system
}
