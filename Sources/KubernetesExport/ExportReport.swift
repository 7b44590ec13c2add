import OrchestratorCore

/// What an export rendered, and every mapping from llama-orch to Kubernetes that lost something or can't be made.
///
/// Printed after an export (and with `--json` as this type, snake_case keys).
public struct ExportReport: Sendable, Equatable, Codable {
    public var kubernetesVersion: KubernetesVersion
    public var namespace: String?
    public var storage: String
    public var gpuAPI: GPUAPI
    /// The files rendered, `kustomization.yaml` first.
    public var files: [String]
    public var instances: [ExportedInstance]
    public var caveats: [ExportCaveat]

    enum CodingKeys: String, CodingKey {
        case kubernetesVersion = "kubernetes_version"
        case namespace, storage
        case gpuAPI = "gpu_api"
        case files, instances, caveats
    }
}

/// One instance as rendered.
public struct ExportedInstance: Sendable, Equatable, Codable {
    public var name: String
    /// The name of its Deployment and Service.
    public var kubernetesName: String
    public var mode: PlacementMode
    public var image: String
    /// The device plugin resource or DRA device class; `nil` on the CPU.
    public var gpuResource: String?
    public var gpuCount: Int
    /// The largest share of one GPU (what a DRA claim asks each device for).
    public var gpuBytesPerDevice: UInt64
    public var cpuRequest: Int
    public var memoryRequestBytes: UInt64
    public var hostModelPath: String
    public var containerModelPath: String
    /// Where clients reach it in the cluster: `NAME.NAMESPACE.svc` (or `NAME` in the current namespace).
    public var serviceHost: String
    public var servicePort: Int

    enum CodingKeys: String, CodingKey {
        case name
        case kubernetesName = "kubernetes_name"
        case mode, image
        case gpuResource = "gpu_resource"
        case gpuCount = "gpu_count"
        case gpuBytesPerDevice = "gpu_bytes_per_device"
        case cpuRequest = "cpu_request"
        case memoryRequestBytes = "memory_request_bytes"
        case hostModelPath = "host_model_path"
        case containerModelPath = "container_model_path"
        case serviceHost = "service_host"
        case servicePort = "service_port"
    }
}

/// A mapping that loses something (`lossy`) or that Kubernetes can't make at all (`impossible`).
public struct ExportCaveat: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable {
        case lossy
        case impossible
    }

    public enum Topic: String, Sendable, Codable {
        case gpuSharing = "gpu_sharing"
        case devicePin = "device_pin"
        case restartLimit = "restart_limit"
        case restartNever = "restart_never"
        case restartBackoff = "restart_backoff"
        case onDemandStart = "on_demand_start"
        case modelPath = "model_path"
        case argsHostPath = "args_host_path"
        case argsDropped = "args_dropped"
        case envDropped = "env_dropped"
        case envHostPath = "env_host_path"
        case probeRounding = "probe_rounding"
        case healthCheckType = "health_check_type"
        case threadsDefault = "threads_default"
        case gpuMemory = "gpu_memory"
        case deviceGroup = "device_group"
        case imageVolume = "image_volume"
        case nodePinned = "node_pinned"
        case logs
    }

    /// The instance it is about; `nil` for the export as a whole.
    public var instance: String?
    public var topic: Topic
    public var severity: Severity
    public var message: String

    public init(instance: String?, topic: Topic, severity: Severity, message: String) {
        self.instance = instance
        self.topic = topic
        self.severity = severity
        self.message = message
    }
}

/// The files of an export and its report.
public struct KubernetesExport: Sendable, Equatable {
    /// File name (no folder) → contents, each file a YAML document led by `ManifestFolder.marker`.
    public var files: [String: String]
    public var report: ExportReport

    /// The Kubernetes objects as one YAML stream (`---` between documents), for `kubectl apply -f -`: every file but
    /// `kustomization.yaml`, in the report's order.
    public var stream: String {
        report.files.filter { $0 != KubernetesRenderer.kustomizationFile }.compactMap { files[$0] }
            .joined(separator: "---\n")
    }
}
