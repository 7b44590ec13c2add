import ArgumentParser
import ControlAPI
import Dashboard
import Drivers
import Foundation
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `llama-orch dashboard`: the live full-screen view, or one snapshot with `--once`.
struct DashboardCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Watch every instance live: states, devices and memory, restarts, logs.",
        discussion: """
            Full screen, redrawn every --interval seconds: a gauge per device of the memory each instance holds, \
            and a table of instances. Keys: arrows select, Enter details, s sort, / filter, r restart, d down \
            (asks first), u up, l log, ? help, q quit. The view and the actions come from the daemon when it \
            answers; without it (it is not started from here) the view is read-only, from state/state.sqlite. With --once, or when standard output is not a terminal, prints one snapshot \
            (text, or JSON with --json) and exits. NO_COLOR is honoured.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "Seconds between refreshes.")
    var interval: Double = 2

    @Flag(name: .long, help: "Print one snapshot and exit.")
    var once = false

    @Flag(name: .long, help: "With --once: print the snapshot as JSON.")
    var json = false

    @Flag(name: .long, help: "No colour (also NO_COLOR).")
    var noColor = false

    func validate() throws {
        guard interval >= 0.1, interval <= 3600 else {
            throw ValidationError("--interval must be between 0.1 and 3600 seconds")
        }
    }

    func execute() async throws {
        let root = try global.projectRoot()
        let base = makeSource(root: root)
        // A refresh must not hang the view: the snapshot client waits seconds, the actions client minutes.
        let snapshotClient = ControlClient(socketPath: root.daemonSocket, timeout: .seconds(10))
        var daemonAnswers = false
        if snapshotClient.socketAccepts() { daemonAnswers = (try? await snapshotClient.daemonInfo()) != nil }
        let source: any SnapshotSource =
            daemonAnswers ? DaemonSnapshotSource(client: snapshotClient, base: base) : base
        let color = ColorPolicy.allowed(noColorFlag: noColor, environment: global.environment)
        let interactive = isatty(STDOUT_FILENO) == 1 && isatty(STDIN_FILENO) == 1
        if once || json || !interactive {
            let snapshot = try await source.snapshot(logTailOf: nil, logLines: 0)
            if json { return try printJSON(snapshot) }
            let width =
                interactive
                ? terminalColumns() : Int(global.environment["COLUMNS"] ?? "").flatMap { $0 > 20 ? $0 : nil } ?? 120
            FileHandle.standardOutput.write(
                Data(DashboardRenderer.renderOnce(snapshot, width: width, color: color && interactive).utf8))
            return
        }
        let actions: any InstanceActions =
            daemonAnswers
            ? DaemonInstanceActions(client: ControlClient(socketPath: root.daemonSocket)) : ReadOnlyInstanceActions()
        let terminal: Terminal
        do {
            terminal = try Terminal()
        } catch {
            throw CLIError(.failure, "cannot open the dashboard: \(error.description); try --once")
        }
        defer { terminal.restore() }
        let signal = try await DashboardLoop(source: source, actions: actions, interval: interval, color: color)
            .run(on: terminal)
        if let signal {
            terminal.restore()
            throw ExitCode(128 + signal)
        }
    }

    /// The read-only source: configs validated with this build's driver names, devices from the backend the
    /// configs agree on (or --backend, or auto).
    private func makeSource(root: ProjectRoot) -> StateStoreSnapshotSource {
        let registry = DriverCatalog.registry()
        let validator = ConfigValidator(knownNames: KnownNames(backends: registry.names))
        let configs: @Sendable () -> [ConfigReport] = { validator.validateAll(in: root) }
        let requested = global.backend
        let devicesFile = global.devicesFile
        let environment = global.environment
        let devices: @Sendable () async -> [Device] = {
            let backends = Set(configs().compactMap(\.config?.gpu.backend))
            let backend =
                requested ?? (devicesFile != nil ? "static" : backends.count == 1 ? backends.first ?? "auto" : "auto")
            let context = DriverContext.commandLine(
                environment: environment, devicesFile: devicesFile, projectRoot: root.path)
            let inventory = try? await DeviceInventory.discover(
                backend: backend, registry: registry, context: context)
            return inventory?.devices ?? []
        }
        return StateStoreSnapshotSource(root: root, configs: configs, devices: devices)
    }

    private func terminalColumns() -> Int {
        var window = winsize()
        if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0 { return Int(window.ws_col) }
        return 80
    }
}
