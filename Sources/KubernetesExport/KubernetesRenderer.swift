import Foundation
import OrchestratorCore
import Scheduler

/// Turns planned instances into Kubernetes manifests (a Deployment and a Service each, a ResourceClaimTemplate with
/// DRA), a `kustomization.yaml` listing them, and the report of what doesn't map. Pure: the same instances and
/// options give the same bytes.
public struct KubernetesRenderer: Sendable {
    public var options: KubernetesExportOptions

    public static let kustomizationFile = "kustomization.yaml"
    /// The container's name in every pod.
    static let containerName = "llama-server"
    /// The label every object carries, and the selector's `app.kubernetes.io/name`.
    static let appName = "llama-server"
    /// Memory-backed `/dev/shm` cap.
    static let sharedMemoryLimit = "1Gi"
    /// The non-root user and group the server runs as (llama.cpp's images have no user of their own).
    static let userID = 65532
    /// Seconds of the stop grace left for llama-server after SIGTERM; the rest is for the preStop drain.
    static let exitReserveSeconds = 10

    public init(options: KubernetesExportOptions) {
        self.options = options
    }

    /// The manifests and the report for `instances`.
    ///
    /// - Throws: `ExportError.usage` when two instances get one Kubernetes name, or two models one path in the
    ///   volume.
    public func render(_ instances: [ExportInstance]) throws -> KubernetesExport {
        try options.check()
        let sorted = instances.sorted {
            KubernetesName.forInstance($0.config.name) < KubernetesName.forInstance($1.config.name)
        }
        try checkNames(sorted)
        var files: [String: String] = [:]
        var order: [String] = []
        var summaries: [ExportedInstance] = []
        var caveats: [ExportCaveat] = []
        for instance in sorted {
            let name = KubernetesName.forInstance(instance.config.name)
            var objects: [(String, ManifestValue)] = [
                ("\(name)-deployment.yaml", deployment(instance)), ("\(name)-service.yaml", service(instance)),
            ]
            if options.gpuAPI == .dra, instance.accelerator != .cpu {
                objects.append(("\(name)-gpu-claim.yaml", try claimTemplate(instance)))
            }
            for (file, object) in objects {
                files[file] = ManifestFolder.marker + "\n" + (try object.yaml())
                order.append(file)
            }
            summaries.append(try summary(instance))
            caveats += InstanceCaveats(instance: instance, options: options).all
        }
        caveats += exportCaveats(sorted)
        let kustomization: ManifestValue = [
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": .strings(order),
        ]
        files[Self.kustomizationFile] = ManifestFolder.marker + "\n" + (try kustomization.yaml())
        let report = ExportReport(
            kubernetesVersion: options.kubernetesVersion, namespace: options.namespace,
            storage: options.storage.description, gpuAPI: options.gpuAPI, files: [Self.kustomizationFile] + order,
            instances: summaries, caveats: caveats)
        return KubernetesExport(files: files, report: report)
    }

    // MARK: - Objects

    func deployment(_ instance: ExportInstance) -> ManifestValue {
        let name = KubernetesName.forInstance(instance.config.name)
        var pod: ManifestValue = [
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "containers": [container(instance)],
            "securityContext": [
                "runAsNonRoot": true, "runAsUser": .integer(Self.userID), "runAsGroup": .integer(Self.userID),
                "seccompProfile": ["type": "RuntimeDefault"],
            ],
            "terminationGracePeriodSeconds": .integer(options.stopGraceSeconds),
            "volumes": [
                modelVolume(),
                ["name": "dshm", "emptyDir": ["medium": "Memory", "sizeLimit": .string(Self.sharedMemoryLimit)]],
                ["name": "tmp", "emptyDir": [:]],
            ],
        ]
        if case .hostPath(_, let node) = options.storage {
            pod = pod.adding(["nodeSelector": ["kubernetes.io/hostname": .string(node)]])
        }
        if options.gpuAPI == .dra, instance.accelerator != .cpu {
            pod = pod.adding(["resourceClaims": [["name": "gpu", "resourceClaimTemplateName": .string(name + "-gpu")]]])
        }
        return [
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(name, annotations: annotations(instance)),
            "spec": [
                "replicas": 1,
                // A rolling update would start the new pod before the old one frees its GPU, and wait for a second GPU.
                "strategy": ["type": "Recreate"],
                "selector": ["matchLabels": selector(name)],
                "template": ["metadata": ["labels": labels(name)], "spec": pod],
            ],
        ]
    }

    func container(_ instance: ExportInstance) -> ManifestValue {
        let health = instance.config.healthcheck
        let probes = ProbeSettings(health)
        var resources: ManifestValue = [
            "requests": [
                "cpu": .string(String(cpuRequest(instance))),
                "memory": .string(Self.mebibytes(instance.placement.hostBytes)),
            ]
        ]
        let gpus = instance.placement.shares.count
        if instance.accelerator != .cpu {
            switch options.gpuAPI {
            case .devicePlugin:
                resources = resources.adding([
                    "limits": [gpuResource(instance.accelerator) ?? "": .string(String(gpus))]
                ])
            case .dra:
                resources = resources.adding(["claims": [["name": "gpu"]]])
            }
        }
        var container: ManifestValue = [
            "name": .string(Self.containerName),
            "image": .string(options.image ?? instance.accelerator.image),
            "imagePullPolicy": "IfNotPresent",
            "command": .strings([Accelerator.serverPath]),
            "args": .strings(instance.arguments),
            "ports": [
                ["name": "http", "containerPort": .integer(KubernetesExporter.containerPort), "protocol": "TCP"]
            ],
            "resources": resources,
            "readinessProbe": probes.readiness(health),
            "lifecycle": ["preStop": ["exec": ["command": ["/bin/sh", "-c", .block(drainScript())]]]],
            "securityContext": [
                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
                "capabilities": ["drop": ["ALL"]],
            ],
            "volumeMounts": [
                ["name": "models", "mountPath": .string(ModelStorage.mountPath), "readOnly": true],
                ["name": "dshm", "mountPath": "/dev/shm"],
                ["name": "tmp", "mountPath": "/tmp"],
            ],
        ]
        // The `process` checker only watches the process, as the kubelet does: no startup or liveness probe.
        if health.type != "process" {
            container = container.adding([
                "startupProbe": probes.startup(health), "livenessProbe": probes.liveness(health),
            ])
        }
        if !instance.environment.isEmpty {
            container = container.adding([
                "env": .list(
                    instance.environment.sorted { $0.key < $1.key }.map {
                        ["name": .string($0.key), "value": .string($0.value)]
                    })
            ])
        }
        return container
    }

    func service(_ instance: ExportInstance) -> ManifestValue {
        let name = KubernetesName.forInstance(instance.config.name)
        return [
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(name),
            "spec": [
                "type": "ClusterIP",
                "selector": selector(name),
                // The instance's own port, so clients change only the host name.
                "ports": [
                    [
                        "name": "http", "port": .integer(instance.config.server.port), "targetPort": "http",
                        "protocol": "TCP",
                    ]
                ],
            ],
        ]
    }

    /// A claim for the placement's GPUs, each with at least the largest share's bytes of memory.
    func claimTemplate(_ instance: ExportInstance) throws(ExportError) -> ManifestValue {
        let name = KubernetesName.forInstance(instance.config.name)
        guard let deviceClass = gpuResource(instance.accelerator) else {
            throw .usage(
                "\(instance.config.name): no DRA driver is known for \(instance.accelerator.rawValue); "
                    + "name its DeviceClass with --gpu-resource, or use --gpu-api device-plugin")
        }
        return [
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": metadata(name + "-gpu", instance: name),
            "spec": [
                "spec": [
                    "devices": [
                        "requests": [
                            [
                                "name": "gpu",
                                "exactly": [
                                    "deviceClassName": .string(deviceClass),
                                    "allocationMode": "ExactCount",
                                    "count": .integer(instance.placement.shares.count),
                                    "selectors": [
                                        ["cel": ["expression": .string(memorySelector(instance, domain: deviceClass))]]
                                    ],
                                ],
                            ]
                        ]
                    ]
                ]
            ],
        ]
    }

    /// `device.capacity[DOMAIN].memory >= N`, guarded as AMD's driver documents, so a device without a `memory`
    /// capacity is passed over rather than failing the allocation.
    func memorySelector(_ instance: ExportInstance, domain: String) -> String {
        let quantity = Self.mebibytes(bytesPerGPU(instance))
        return "cel.bind(cap, device.capacity[\"\(domain)\"], has(cap.memory) && "
            + "cap.memory.compareTo(quantity(\"\(quantity)\")) >= 0)"
    }

    func modelVolume() -> ManifestValue {
        switch options.storage {
        case .persistentVolumeClaim(let claim):
            ["name": "models", "persistentVolumeClaim": ["claimName": .string(claim), "readOnly": true]]
        case .hostPath(let directory, _):
            ["name": "models", "hostPath": ["path": .string(directory), "type": "Directory"]]
        case .image(let reference):
            ["name": "models", "image": ["reference": .string(reference), "pullPolicy": "IfNotPresent"]]
        }
    }

    /// Waits while llama-server still has requests processing (`--metrics`), at most the stop grace less
    /// `exitReserveSeconds`; Kubernetes takes the pod out of the Service as the hook starts, then sends SIGTERM
    /// when it ends.
    func drainScript() -> String {
        let seconds = max(0, options.stopGraceSeconds - Self.exitReserveSeconds)
        return """
            # Wait while llama-server still has requests processing (at most \(seconds) s); SIGTERM follows.
            end=$(( $(date +%s) + \(seconds) ))
            while [ "$(date +%s)" -lt "$end" ]; do
              n=$(curl -fsS --max-time 2 http://127.0.0.1:\(KubernetesExporter.containerPort)/metrics \
            | sed -n 's/^llamacpp:requests_processing \\([0-9]*\\).*/\\1/p')
              [ "${n:-0}" -gt 0 ] || exit 0
              sleep 1
            done

            """
    }

    // MARK: - Names and numbers

    /// `name` is the object's, `instance` the instance's Kubernetes name (its labels).
    func metadata(_ name: String, instance: String? = nil, annotations: [String: String] = [:]) -> ManifestValue {
        var metadata: ManifestValue = ["name": .string(name), "labels": labels(instance ?? name)]
        if let namespace = options.namespace { metadata = metadata.adding(["namespace": .string(namespace)]) }
        if !annotations.isEmpty { metadata = metadata.adding(["annotations": .strings(annotations)]) }
        return metadata
    }

    func labels(_ name: String) -> ManifestValue {
        selector(name).adding(["app.kubernetes.io/managed-by": "llama-orch"])
    }

    func selector(_ name: String) -> ManifestValue {
        ["app.kubernetes.io/name": .string(Self.appName), "app.kubernetes.io/instance": .string(name)]
    }

    /// What a person reading the Deployment wants to know: the instance, its model on the host, its placement.
    func annotations(_ instance: ExportInstance) -> [String: String] {
        let placement = instance.placement
        var text =
            "\(placement.mode.rawValue), \(placement.offloadedUnits)/\(placement.blockCount + 1) layers on GPU"
        if !placement.shares.isEmpty {
            text += ", \(placement.shares.count) GPU(s) of at least \(formatBytes(bytesPerGPU(instance))) each"
        }
        text += ", host \(formatBytes(placement.hostBytes))"
        return [
            "llama-orch/instance": instance.config.name, "llama-orch/model": instance.config.model.resolvedPath,
            "llama-orch/placement": text,
        ]
    }

    func gpuResource(_ accelerator: Accelerator) -> String? {
        guard accelerator != .cpu else { return nil }
        if let resource = options.gpuResource { return resource }
        return options.gpuAPI == .dra ? accelerator.draDeviceClass : accelerator.devicePluginResource
    }

    func cpuRequest(_ instance: ExportInstance) -> Int {
        max(1, instance.config.model.threads ?? options.defaultThreads)
    }

    func bytesPerGPU(_ instance: ExportInstance) -> UInt64 {
        instance.placement.shares.map(\.bytes).max() ?? 0
    }

    /// `bytes` rounded up to whole MiB, as a Kubernetes quantity (`7290Mi`).
    static func mebibytes(_ bytes: UInt64) -> String {
        "\(max(1, (bytes + (1 << 20) - 1) >> 20))Mi"
    }

    func summary(_ instance: ExportInstance) throws -> ExportedInstance {
        let name = KubernetesName.forInstance(instance.config.name)
        return ExportedInstance(
            name: instance.config.name, kubernetesName: name, mode: instance.placement.mode,
            image: options.image ?? instance.accelerator.image, gpuResource: gpuResource(instance.accelerator),
            gpuCount: instance.placement.shares.count, gpuBytesPerDevice: bytesPerGPU(instance),
            cpuRequest: cpuRequest(instance), memoryRequestBytes: instance.placement.hostBytes,
            hostModelPath: instance.config.model.resolvedPath,
            containerModelPath: options.storage.containerPath(forModelAt: instance.config.model.resolvedPath),
            serviceHost: options.namespace.map { "\(name).\($0).svc" } ?? name, servicePort: instance.config.server.port
        )
    }

    /// Two instances with one Kubernetes name, or two model files at one path in the volume, can't be rendered.
    func checkNames(_ instances: [ExportInstance]) throws(ExportError) {
        var byName: [String: String] = [:]
        var byModel: [String: (instance: String, host: String)] = [:]
        for instance in instances {
            let name = KubernetesName.forInstance(instance.config.name)
            if let other = byName[name] {
                throw .usage(
                    "instances '\(other)' and '\(instance.config.name)' would both be named '\(name)' in Kubernetes; "
                        + "rename one, or export them separately")
            }
            byName[name] = instance.config.name
            let host = instance.config.model.resolvedPath
            let path = options.storage.containerPath(forModelAt: host)
            if let other = byModel[path], other.host != host {
                throw .usage(
                    "\(other.instance) (\(other.host)) and \(instance.config.name) (\(host)) would both read "
                        + "\(path) in the volume; give the files different names")
            }
            byModel[path] = (instance.config.name, host)
        }
    }

    /// Caveats about the export as a whole: the storage and the Kubernetes version.
    func exportCaveats(_ instances: [ExportInstance]) -> [ExportCaveat] {
        var caveats: [ExportCaveat] = []
        switch options.storage {
        case .image(let reference) where options.kubernetesVersion < KubernetesVersion(minor: 35):
            caveats.append(
                ExportCaveat(
                    instance: nil, topic: .imageVolume, severity: .lossy,
                    message:
                        "image volumes (\(reference)) are beta in Kubernetes \(options.kubernetesVersion) and off by "
                        + "default: enable the ImageVolume feature gate (on by default from 1.35), with a container "
                        + "runtime that supports them"))
        case .hostPath(let directory, let node):
            caveats.append(
                ExportCaveat(
                    instance: nil, topic: .nodePinned, severity: .lossy,
                    message:
                        "hostPath \(directory) exists on one node: every pod is pinned to node '\(node)' "
                        + "(kubernetes.io/hostname), so Kubernetes can't move them elsewhere"))
        default:
            break
        }
        return caveats
    }
}

/// The probe numbers Kubernetes takes (whole seconds, at least 1) from an instance's health check.
struct ProbeSettings {
    var period: Int
    var timeout: Int
    var startPeriod: Int
    var startupFailures: Int
    var failures: Int

    init(_ health: InstanceConfig.HealthCheck) {
        period = Self.seconds(health.interval)
        timeout = Self.seconds(health.timeout)
        startPeriod = Self.seconds(min(health.startInterval, health.interval))
        // periodSeconds × failureThreshold covers the start period: a model load takes minutes.
        startupFailures = max(1, Int((health.startPeriod / Double(startPeriod)).rounded(.up)))
        failures = max(1, health.retries)
    }

    /// Whole seconds, rounded up, at least 1.
    static func seconds(_ value: Double) -> Int { max(1, Int(value.rounded(.up))) }

    func action(_ health: InstanceConfig.HealthCheck) -> ManifestValue {
        switch health.type {
        case "tcp": ["tcpSocket": ["port": "http"]]
        case "http": ["httpGet": ["path": .string(health.path), "port": "http"]]
        // `inference` sends a completion, which Kubernetes can't; `process` has no probe: /health says when the
        // model is loaded.
        default: ["httpGet": ["path": "/health", "port": "http"]]
        }
    }

    func startup(_ health: InstanceConfig.HealthCheck) -> ManifestValue {
        action(health).adding([
            "periodSeconds": .integer(startPeriod), "timeoutSeconds": .integer(timeout),
            "failureThreshold": .integer(startupFailures),
        ])
    }

    func readiness(_ health: InstanceConfig.HealthCheck) -> ManifestValue {
        action(health).adding([
            "periodSeconds": .integer(period), "timeoutSeconds": .integer(timeout),
            "failureThreshold": .integer(failures), "successThreshold": 1,
        ])
    }

    func liveness(_ health: InstanceConfig.HealthCheck) -> ManifestValue {
        action(health).adding([
            "periodSeconds": .integer(period), "timeoutSeconds": .integer(timeout),
            "failureThreshold": .integer(failures),
        ])
    }
}
