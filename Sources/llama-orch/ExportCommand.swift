import ArgumentParser
import Daemon
import Drivers
import Foundation
import Host
import KubernetesExport
import OrchestratorCore
import Scheduler

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Render instances for another system to run.",
        subcommands: [KubernetesCommand.self]
    )

    struct KubernetesCommand: OrchestratorCommand {
        static let configuration = CommandConfiguration(
            commandName: "kubernetes",
            abstract: "Render instances as Kubernetes manifests: a Deployment and a Service each.",
            discussion: """
                Each instance is placed alone on whole devices of the backend (as a pod gets them; --devices-file \
                describes a node you don't have) and gets a Deployment (one replica, Recreate) running llama.cpp's \
                server image with the command plan prints, rewritten for the container (model under /models, \
                --host 0.0.0.0, port 8080, no --device, --metrics), probes from its health check, CPU from its \
                threads, memory from the estimate, its GPUs from the device plugin or a DRA claim; and a ClusterIP \
                Service on its own port. A kustomization.yaml lists the files. The report says what doesn't map \
                (shared GPUs, device pins, max_retries, autostart, host paths, ...).

                Without --out the manifests go to standard output as one YAML stream (for kubectl apply -f -) and \
                the report to standard error. With --out every file starts with a marker line; a file in the way \
                without it is replaced only with --force (exit 72), and marked files of an earlier export that this \
                one doesn't have are removed. An invalid instance (65), an unreadable model (66, 67) or one that fits \
                nowhere (70) stops the export before anything is written.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Instances to export (default: all).")
        var names: [String] = []

        @Option(name: .long, help: "Write the files to this folder (default: the manifests on standard output).")
        var out: String?

        @Option(name: .long, help: "metadata.namespace of every object (default: none; kubectl -n decides).")
        var namespace: String?

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Where the pods read the models, mounted read-only at /models: pvc:CLAIM, hostpath:DIR or image:REF.",
                valueName: "kind:value"))
        var storage = ModelStorage.defaultStorage.description

        @Option(name: .long, help: "The node a hostpath: storage pins the pods to (default: this machine's host name).")
        var node: String?

        @Option(name: .long, help: "How pods ask for GPUs: device-plugin (whole GPUs) or dra (a claim with memory).")
        var gpuAPI: GPUAPI = .devicePlugin

        @Option(
            name: .long,
            help: """
                The device plugin's resource (default nvidia.com/gpu, amd.com/gpu, squat.ai/dri for Vulkan) or, \
                with --gpu-api dra, the DeviceClass (default gpu.nvidia.com, gpu.amd.com).
                """)
        var gpuResource: String?

        @Option(
            name: .long, help: "Container image (default: ghcr.io/ggml-org/llama.cpp:server, -cuda, -rocm, -vulkan).")
        var image: String?

        @Option(name: .customLong("k8s-version"), help: "Kubernetes version the cluster runs, 1.33 to 1.37.")
        var kubernetesVersion = KubernetesVersion.default.description

        @Flag(name: .long, help: "Replace files in --out that llama-orch export did not write.")
        var force = false

        @Flag(name: .long, help: "Print the report as JSON (with the manifests when there is no --out).")
        var json = false

        func execute() async throws {
            try InstanceNameError.check(names)
            let root = try global.projectRoot()
            let registry = DriverCatalog.registry()
            let validator = ConfigValidator(knownNames: KnownNames(backends: registry.names))
            var reports = validator.validateAll(in: root)
            if !names.isEmpty {
                for name in names where !reports.contains(where: { $0.name == name }) {
                    throw CLIError(.notFound, "no instance '\(name)' in \(root.instancesDirectory)")
                }
                reports = reports.filter { names.contains($0.name) }
            }
            guard !reports.isEmpty else {
                throw CLIError(
                    .notFound,
                    "no instances in \(root.instancesDirectory); create one with 'llama-orch init NAME --model PATH'")
            }
            if let invalid = reports.first(where: { !$0.isValid }) {
                throw ConfigError(file: invalid.file, issues: invalid.issues)
            }
            let configs = reports.compactMap(\.config)

            let options = KubernetesExportOptions(
                namespace: namespace, storage: try ModelStorage.parse(storage, node: node ?? MachineName.read()),
                gpuAPI: gpuAPI, gpuResource: gpuResource, image: image,
                kubernetesVersion: try KubernetesVersion.parse(kubernetesVersion),
                stopGraceSeconds: Int(InstanceManager.defaultStopGrace.components.seconds),
                defaultThreads: HostResources.physicalCores())
            try options.check()

            let inventory = try await devices(for: configs, root: root)
            let instances = try KubernetesExporter(options: options)
                .plan(configs, devices: inventory.devices, backend: inventory.backend)
            let export = try KubernetesRenderer(options: options).render(instances)

            var changes: ManifestFolder.Changes?
            if let out {
                changes = try ManifestFolder(path: out).write(export, force: force)
            }
            if json {
                try printJSON(
                    ExportJSON(
                        report: export.report, out: out, written: changes?.written ?? [],
                        removed: changes?.stale ?? [], manifests: out == nil ? export.files : nil))
                return
            }
            let text = ExportReportRenderer.render(export.report, out: out, changes: changes)
            if out == nil {
                FileHandle.standardOutput.write(Data(export.stream.utf8))
                FileHandle.standardError.write(Data((text + "\n").utf8))
            } else {
                print(text)
            }
        }

        /// The devices the instances are planned on: `--backend` / `--devices-file`, else the backend the configs
        /// agree on, as `plan` chooses.
        private func devices(for configs: [InstanceConfig], root: ProjectRoot) async throws -> Inventory {
            let backends = Set(configs.map(\.gpu.backend))
            let requested: String
            if global.backend != nil || global.devicesFile != nil {
                requested = DeviceInventory.backend(requested: global.backend, devicesFileOption: global.devicesFile)
            } else if backends.count == 1, let only = backends.first {
                requested = only
            } else {
                throw PlanningError.mixedBackends(configs.map { "\($0.name): \($0.gpu.backend)" })
            }
            // Only the fallback driver runs llama-server (--list-devices); the export needs none of its own.
            let configured = Set(configs.compactMap(\.binary.resolvedPath))
            let server = try? LlamaServerSearch(environment: global.environment, projectRoot: root.path)
                .find(configured: configured.count == 1 ? configured.first : nil).path
            let context = DriverContext(
                environment: global.environment, devicesFile: global.devicesFile, llamaServer: server,
                projectRoot: root.path)
            return try await DeviceInventory.discover(
                backend: requested, registry: DriverCatalog.registry(), context: context)
        }
    }
}

extension GPUAPI: ExpressibleByArgument {}

/// `export kubernetes --json`: the report, what was written, and without `--out` the files themselves.
struct ExportJSON: Encodable {
    var report: ExportReport
    var out: String?
    var written: [String]
    var removed: [String]
    /// File name → contents, when nothing was written.
    var manifests: [String: String]?
}

/// The text form of an export's report.
enum ExportReportRenderer {
    static func render(_ report: ExportReport, out: String?, changes: ManifestFolder.Changes?) -> String {
        var lines = [
            "kubernetes \(report.kubernetesVersion) · storage \(report.storage) · gpus \(report.gpuAPI.rawValue)"
                + (report.namespace.map { " · namespace \($0)" } ?? "")
        ]
        for instance in report.instances {
            var resources = ["\(instance.cpuRequest) CPU", "\(formatBytes(instance.memoryRequestBytes)) memory"]
            if let gpu = instance.gpuResource {
                resources.insert(
                    "\(instance.gpuCount) × \(gpu) (\(formatBytes(instance.gpuBytesPerDevice)) each)", at: 0)
            }
            lines.append(
                "\(instance.name): \(instance.mode.rawValue) → Deployment \(instance.kubernetesName) "
                    + "(\(instance.image); \(resources.joined(separator: ", "))), "
                    + "Service \(instance.serviceHost):\(instance.servicePort)")
        }
        if !report.caveats.isEmpty {
            lines.append("")
            lines.append("what doesn't map:")
            for caveat in report.caveats {
                lines.append(
                    "  \(caveat.severity.rawValue): \(caveat.instance.map { "\($0): " } ?? "")\(caveat.message)")
            }
        }
        if let out, let changes {
            lines.append("")
            lines.append("wrote \(changes.written.count) files to \(out): \(changes.written.joined(separator: ", "))")
            if !changes.stale.isEmpty {
                lines.append(
                    "removed \(changes.stale.count) files an earlier export wrote: \(changes.stale.joined(separator: ", "))"
                )
            }
        }
        return lines.joined(separator: "\n")
    }
}
