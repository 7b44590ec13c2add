import Foundation
import Host
import OrchestratorCore

/// Devices as llama-server itself lists them (`--list-devices`): works for any GPU backend it was built
/// with (CUDA, ROCm, Vulkan, Metal, SYCL) and needs no GPU library in llama-orch.
///
/// The binary is the context's `llamaServer` (the one a planning round located), else the one
/// `LlamaServerSearch` finds. A binary that hangs is killed after the context's timeout. On Linux, amdgpu
/// cards in sysfs add their PCI bus id and VRAM use. The host entry always comes from the `cpu` driver.
/// Every listed device is reported as `discrete`: `--list-devices` doesn't say, and it lists no PCI bus id.
public struct FallbackDriver: BackendDriver {
    public static let name = "fallback"
    public static let summary = "devices as 'llama-server --list-devices' reports them (any GPU backend)"

    let context: DriverContext
    /// Where sysfs and `/proc` are read (a fake folder in tests).
    let files: HostFileSystem

    public init(context: DriverContext) {
        self.init(context: context, files: .live)
    }

    /// Creates a driver that reads sysfs and host memory under `files`.
    public init(context: DriverContext, files: HostFileSystem) {
        self.context = context
        self.files = files
    }

    public func probe() async -> DriverProbe {
        let binary: String
        if let configured = context.llamaServer {
            binary = configured
        } else {
            do {
                binary = try LlamaServerSearch(environment: context.environment, projectRoot: context.projectRoot)
                    .find().path
            } catch {
                switch error {
                case .notExecutable(let path, let source):
                    return .unavailable(.init(.missingDependency, "\(source) \(path) is not an executable file"))
                case .notFound:
                    return .unavailable(
                        .init(
                            .missingDependency,
                            "no llama-server: put one in <root>/bin, set LLAMA_SERVER, or add it to PATH "
                                + "(scripts/build-llama-server.sh builds one into its cache, which is searched too)"))
                }
            }
        }
        let run: ProgramRunner.Output
        do {
            run = try await ProgramRunner.run(binary, ["--list-devices"], timeout: .seconds(context.timeout))
        } catch {
            switch error {
            case .timedOut:
                return .unavailable(
                    .init(
                        .probeFailed,
                        "\(binary) --list-devices did not finish in \(formatSeconds(context.timeout)); killed it"))
            case .cannotRun(_, let reason):
                return .unavailable(.init(.probeFailed, "\(binary) --list-devices: \(reason)"))
            }
        }
        guard let entries = ListDevicesParser.parse(run.output) else {
            let tail = run.output.split(separator: "\n").suffix(2).joined(separator: " | ")
            return .unavailable(
                .init(
                    .probeFailed,
                    "\(binary) --list-devices printed no device list (exit \(run.status))"
                        + (tail.isEmpty ? "" : ": \(tail)")))
        }
        var devices = entries.filter { $0.totalMiB > 0 }.map { entry in
            Device(
                id: "\(Self.name):\(entry.name)", backend: Self.name, llamaName: entry.name,
                description: entry.description, kind: .discrete, totalBytes: entry.totalMiB << 20,
                freeBytes: entry.freeMiB << 20, details: ["source": binary + " --list-devices"])
        }
        devices = AMDGPUSysfs.merge(AMDGPUSysfs.cards(in: files), into: devices)
        if let host = CPUDriver(files: files).hostDevice() { devices.append(host) }
        return .available(devices)
    }
}

/// `2 s`, `0.5 s`.
func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
}
