import Foundation

/// Renders a `ServiceDefinition` as the text each service manager reads: pure functions, no file system.
public enum ServiceUnit {
    /// The unit, property list, commands or task XML for `target`, ending with a newline.
    ///
    /// - Throws: `ServiceError.invalidValue` when a value can't be written safely (a newline in a path, a
    ///   relative path for systemd or launchd, a bad environment variable name).
    public static func render(
        target: ServiceTarget, scope: ServiceScope, definition: ServiceDefinition
    ) throws(ServiceError) -> String {
        try definition.validate(posixPaths: target.installsHere)
        switch target {
        case .systemd: return SystemdUnit.render(scope: scope, definition: definition)
        case .launchd: return LaunchdPlist.render(scope: scope, definition: definition)
        case .nssm: return NSSMCommands.render(scope: scope, definition: definition)
        case .schtasks: return TaskSchedulerXML.render(scope: scope, definition: definition)
        }
    }

    /// `render(target:scope:definition:)` with the default name, timeouts and no user.
    public static func render(
        target: ServiceTarget, scope: ServiceScope, binary: String, root: String, environment: [String: String]
    ) throws(ServiceError) -> String {
        try render(
            target: target, scope: scope,
            definition: ServiceDefinition(binary: binary, root: root, environment: environment))
    }
}

/// A systemd unit for the daemon.
///
/// `KillMode=process`: stopping or restarting the unit signals the daemon alone, so the llama-server
/// instances keep running and the next daemon re-adopts them. `Restart=on-failure` restarts a daemon that
/// crashed. `network-online.target` orders the start after the network is up (instances listen on it).
public enum SystemdUnit {
    /// The unit text; the definition must already be valid.
    public static func render(scope: ServiceScope, definition: ServiceDefinition) -> String {
        var lines: [String] = [
            "# llama-orch daemon for \(definition.root)",
            "# Written by 'llama-orch service install'; 'llama-orch service print' shows what it would write now.",
            "# KillMode=process: a daemon stop or restart leaves the llama-server instances running, and the",
            "# next daemon re-adopts them. The daemon starts the instances marked \"autostart\": true.",
            "[Unit]",
            "Description=llama-orch daemon (\(escapeSpecifiers(definition.root)))",
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=exec",
        ]
        if scope == .system, let user = definition.user { lines.append("User=\(escapeSpecifiers(user))") }
        lines.append("WorkingDirectory=\(escapeSpecifiers(definition.root))")
        for (name, value) in definition.sortedEnvironment {
            lines.append("Environment=\(quote(name + "=" + value))")
        }
        let command = [definition.binary] + definition.daemonArguments
        lines += [
            "ExecStart=" + command.map(execArgument).joined(separator: " "),
            "Restart=on-failure",
            "RestartSec=\(definition.restartDelaySeconds)",
            "KillMode=process",
            "TimeoutStopSec=\(definition.stopTimeoutSeconds)",
            "",
            "[Install]",
            "WantedBy=\(scope == .system ? "multi-user.target" : "default.target")",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `%` starts a specifier in almost every setting; `%%` is a literal percent sign.
    static func escapeSpecifiers(_ text: String) -> String {
        text.replacingOccurrences(of: "%", with: "%%")
    }

    /// A double-quoted value: backslash and double quote escaped, specifiers escaped.
    static func quote(_ text: String) -> String {
        let escaped = text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"" + escapeSpecifiers(escaped) + "\""
    }

    /// One word of `ExecStart=`: `$` and `%` escaped (both are expanded there), quoted when it holds spaces,
    /// quotes or backslashes, or is empty.
    static func execArgument(_ text: String) -> String {
        let needsQuotes =
            text.isEmpty || text.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == "\\" })
        let dollars = text.replacingOccurrences(of: "$", with: "$$")
        return needsQuotes ? quote(dollars) : escapeSpecifiers(dollars)
    }
}

/// A launchd property list for the daemon: a LaunchAgent for a user, a LaunchDaemon for the system.
///
/// `AbandonProcessGroup` is launchd's `KillMode=process`: when the daemon exits, launchd does not kill the
/// instances it started. `KeepAlive.SuccessfulExit = false` restarts a daemon that failed; `ExitTimeOut` is
/// the stop timeout.
public enum LaunchdPlist {
    /// The property list text; the definition must already be valid.
    public static func render(scope: ServiceScope, definition: ServiceDefinition) -> String {
        var lines: [String] = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">"#,
            #"<plist version="1.0">"#,
            "<dict>",
            "\t<key>Label</key>",
            "\t<string>\(escapeXML(definition.name))</string>",
            "\t<key>ProgramArguments</key>",
            "\t<array>",
        ]
        for argument in [definition.binary] + definition.daemonArguments {
            lines.append("\t\t<string>\(escapeXML(argument))</string>")
        }
        lines.append("\t</array>")
        if !definition.environment.isEmpty {
            lines += ["\t<key>EnvironmentVariables</key>", "\t<dict>"]
            for (name, value) in definition.sortedEnvironment {
                lines += ["\t\t<key>\(escapeXML(name))</key>", "\t\t<string>\(escapeXML(value))</string>"]
            }
            lines.append("\t</dict>")
        }
        if scope == .system, let user = definition.user {
            lines += ["\t<key>UserName</key>", "\t<string>\(escapeXML(user))</string>"]
        }
        lines += [
            "\t<key>WorkingDirectory</key>",
            "\t<string>\(escapeXML(definition.root))</string>",
            "\t<key>RunAtLoad</key>",
            "\t<true/>",
            "\t<key>KeepAlive</key>",
            "\t<dict>",
            "\t\t<key>SuccessfulExit</key>",
            "\t\t<false/>",
            "\t</dict>",
            "\t<key>ThrottleInterval</key>",
            "\t<integer>\(max(definition.restartDelaySeconds, 1))</integer>",
            "\t<key>AbandonProcessGroup</key>",
            "\t<true/>",
            "\t<key>ExitTimeOut</key>",
            "\t<integer>\(definition.stopTimeoutSeconds)</integer>",
            "\t<key>StandardOutPath</key>",
            "\t<string>\(escapeXML(definition.root + "/logs/daemon.stdout.log"))</string>",
            "\t<key>StandardErrorPath</key>",
            "\t<string>\(escapeXML(definition.root + "/logs/daemon.stderr.log"))</string>",
            "</dict>",
            "</plist>",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// NSSM commands (https://nssm.cc) that install the daemon as a Windows service, for an elevated Command
/// Prompt.
///
/// `AppKillProcessTree 0` is NSSM's `KillMode=process`: stopping the service leaves the instances running.
/// `AppStopMethodConsole` gives the daemon the stop timeout after Ctrl-C before NSSM tries harder. Windows
/// services are machine-wide, so the scope changes nothing; `user` names the account it runs as.
public enum NSSMCommands {
    /// The commands as text, one per line, with `REM` comments; the definition must already be valid.
    public static func render(scope: ServiceScope, definition: ServiceDefinition) -> String {
        let service = definition.name
        let parameters = definition.daemonArguments.map(windowsArgument).joined(separator: " ")
        var lines: [String] = [
            "REM llama-orch daemon for \(definition.root) as a Windows service, through NSSM (https://nssm.cc).",
            "REM Run these in an elevated Command Prompt; 'nssm remove \(service) confirm' undoes them.",
            "nssm install \(service) \(windowsArgument(definition.binary))",
            "nssm set \(service) AppParameters \(windowsArgument(parameters))",
            "nssm set \(service) AppDirectory \(windowsArgument(definition.root))",
        ]
        if !definition.environment.isEmpty {
            let pairs = definition.sortedEnvironment.map { windowsArgument($0.name + "=" + $0.value) }
            lines.append("nssm set \(service) AppEnvironmentExtra " + pairs.joined(separator: " "))
        }
        lines += [
            "nssm set \(service) Description \(windowsArgument("llama-orch daemon (\(definition.root))"))",
            "nssm set \(service) Start SERVICE_DELAYED_AUTO_START",
            "nssm set \(service) DependOnService Tcpip",
            "nssm set \(service) AppExit Default Restart",
            "nssm set \(service) AppExit 0 Exit",
            "nssm set \(service) AppRestartDelay \(definition.restartDelaySeconds * 1000)",
            "nssm set \(service) AppStopMethodConsole \(definition.stopTimeoutSeconds * 1000)",
            "nssm set \(service) AppKillProcessTree 0",
            "nssm set \(service) AppStdout \(windowsArgument(definition.root + "\\logs\\daemon.stdout.log"))",
            "nssm set \(service) AppStderr \(windowsArgument(definition.root + "\\logs\\daemon.stderr.log"))",
        ]
        if let user = definition.user {
            lines += [
                "REM The service runs as \(user); replace PASSWORD with the account's password.",
                "nssm set \(service) ObjectName \(windowsArgument(user)) PASSWORD",
            ]
        }
        lines.append("nssm start \(service)")
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A Task Scheduler task for the daemon, as the XML `schtasks /Create /TN NAME /XML FILE` imports.
///
/// A system task starts at boot (after a delay for the network) as SYSTEM or the given account; a user task
/// starts at that user's logon. Task Scheduler has no environment setting: the comment lists the variables
/// to set for the account. Values follow the Task Scheduler schema: a restart `Count` is an unsigned byte
/// (255 at most) and its `Interval` at least a minute.
public enum TaskSchedulerXML {
    /// The task XML; the definition must already be valid.
    public static func render(scope: ServiceScope, definition: ServiceDefinition) -> String {
        var lines: [String] = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<!-- llama-orch daemon as a scheduled task. Import it in an elevated Command Prompt:",
            "     schtasks /Create /TN \(escapeXML(definition.name)) /XML \(escapeXML(definition.name)).xml",
        ]
        if !definition.environment.isEmpty {
            lines.append(
                "     Task Scheduler has no environment setting; set these for the account that runs the task: "
                    + definition.sortedEnvironment.map(\.name).joined(separator: ", "))
        }
        lines += [
            "-->",
            #"<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">"#,
            "  <RegistrationInfo>",
            "    <Description>llama-orch daemon (\(escapeXML(definition.root)))</Description>",
            "    <URI>\\\(escapeXML(definition.name))</URI>",
            "  </RegistrationInfo>",
            "  <Triggers>",
        ]
        let account = definition.user.map(escapeXML)
        switch scope {
        case .system:
            lines += [
                "    <BootTrigger>",
                "      <Enabled>true</Enabled>",
                "      <Delay>PT30S</Delay>",
                "    </BootTrigger>",
            ]
        case .user:
            lines += ["    <LogonTrigger>", "      <Enabled>true</Enabled>"]
            if let account { lines.append("      <UserId>\(account)</UserId>") }
            lines.append("    </LogonTrigger>")
        }
        lines += ["  </Triggers>", "  <Principals>", #"    <Principal id="Author">"#]
        switch (scope, account) {
        case (.system, nil):
            lines += ["      <UserId>S-1-5-18</UserId>", "      <RunLevel>LeastPrivilege</RunLevel>"]
        case (.system, let account?):
            lines += [
                "      <UserId>\(account)</UserId>", "      <LogonType>Password</LogonType>",
                "      <RunLevel>LeastPrivilege</RunLevel>",
            ]
        case (.user, let account):
            if let account { lines.append("      <UserId>\(account)</UserId>") }
            lines += ["      <LogonType>InteractiveToken</LogonType>", "      <RunLevel>LeastPrivilege</RunLevel>"]
        }
        lines += [
            "    </Principal>",
            "  </Principals>",
            "  <Settings>",
            "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>",
            "    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>",
            "    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>",
            "    <AllowHardTerminate>true</AllowHardTerminate>",
            "    <StartWhenAvailable>true</StartWhenAvailable>",
            "    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>",
            "    <IdleSettings>",
            "      <StopOnIdleEnd>false</StopOnIdleEnd>",
            "      <RestartOnIdle>false</RestartOnIdle>",
            "    </IdleSettings>",
            "    <AllowStartOnDemand>true</AllowStartOnDemand>",
            "    <Enabled>true</Enabled>",
            "    <Hidden>false</Hidden>",
            "    <RunOnlyIfIdle>false</RunOnlyIfIdle>",
            "    <WakeToRun>false</WakeToRun>",
            "    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>",
            "    <Priority>7</Priority>",
            "    <RestartOnFailure>",
            "      <Interval>PT1M</Interval>",
            "      <Count>255</Count>",
            "    </RestartOnFailure>",
            "  </Settings>",
            #"  <Actions Context="Author">"#,
            "    <Exec>",
            "      <Command>\(escapeXML(definition.binary))</Command>",
            "      <Arguments>\(escapeXML(definition.daemonArguments.map(windowsArgument).joined(separator: " ")))</Arguments>",
            "      <WorkingDirectory>\(escapeXML(definition.root))</WorkingDirectory>",
            "    </Exec>",
            "  </Actions>",
            "</Task>",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Text escaped for XML element content and attribute values.
func escapeXML(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&apos;"
        default: result.append(character)
        }
    }
    return result
}

/// One argument quoted the way Windows programs split their command line (`CommandLineToArgvW`): left alone
/// when it has no space, tab or quote; else in double quotes, with quotes and the backslashes before them
/// escaped.
func windowsArgument(_ text: String) -> String {
    if !text.isEmpty && !text.contains(where: { $0 == " " || $0 == "\t" || $0 == "\"" }) { return text }
    var result = "\""
    var backslashes = 0
    for character in text {
        if character == "\\" {
            backslashes += 1
            continue
        }
        if character == "\"" {
            result += String(repeating: "\\", count: backslashes * 2 + 1) + "\""
        } else {
            result += String(repeating: "\\", count: backslashes) + String(character)
        }
        backslashes = 0
    }
    result += String(repeating: "\\", count: backslashes * 2) + "\""
    return result
}
