import Foundation
import OrchestratorCore

/// How `export kubernetes` renders: where the models come from, how GPUs are asked for, and for which cluster.
public struct KubernetesExportOptions: Sendable, Equatable {
    /// `metadata.namespace` of every object; `nil` leaves it to `kubectl -n` or kustomize.
    public var namespace: String?
    public var storage: ModelStorage
    public var gpuAPI: GPUAPI
    /// The device plugin's resource name, or with DRA the DeviceClass; `nil`: the accelerator's default.
    public var gpuResource: String?
    /// The container image; `nil`: llama.cpp's published image for the accelerator.
    public var image: String?
    public var kubernetesVersion: KubernetesVersion
    /// Seconds between SIGTERM and SIGKILL that the daemon gives a server: `terminationGracePeriodSeconds`.
    public var stopGraceSeconds: Int
    /// `-t` and the CPU request when a config leaves `model.threads` unset (the daemon's default: this machine's
    /// physical cores).
    public var defaultThreads: Int

    public init(
        namespace: String? = nil, storage: ModelStorage = .defaultStorage, gpuAPI: GPUAPI = .devicePlugin,
        gpuResource: String? = nil, image: String? = nil, kubernetesVersion: KubernetesVersion = .default,
        stopGraceSeconds: Int = 30, defaultThreads: Int
    ) {
        self.namespace = namespace
        self.storage = storage
        self.gpuAPI = gpuAPI
        self.gpuResource = gpuResource
        self.image = image
        self.kubernetesVersion = kubernetesVersion
        self.stopGraceSeconds = stopGraceSeconds
        self.defaultThreads = defaultThreads
    }

    /// Refuses combinations that no cluster of the version can run.
    ///
    /// - Throws: `ExportError.usage`.
    public func check() throws(ExportError) {
        if gpuAPI == .dra && kubernetesVersion < KubernetesVersion(minor: 34) {
            throw .usage(
                "--gpu-api dra needs resource.k8s.io/v1, which Kubernetes has from 1.34; "
                    + "pass --k8s-version 1.34 or later, or --gpu-api device-plugin")
        }
        if let namespace, !KubernetesName.isLabel(namespace) {
            throw .usage(
                "--namespace '\(namespace)' is not a Kubernetes namespace name "
                    + "(lowercase letters, digits and '-', at most 63, starting and ending with a letter or digit)")
        }
        if let gpuResource, gpuResource.isEmpty || gpuResource.contains(where: \.isWhitespace) {
            throw .usage("--gpu-resource '\(gpuResource)' is not a resource name (nvidia.com/gpu, squat.ai/dri, ...)")
        }
        if let image, image.isEmpty || image.contains(where: \.isWhitespace) {
            throw .usage("--image '\(image)' is not an image reference (ghcr.io/ggml-org/llama.cpp:server-cuda)")
        }
    }
}

/// Where the pods find the model files: mounted read-only at `ModelStorage.mountPath`.
public enum ModelStorage: Sendable, Equatable, CustomStringConvertible {
    /// A PersistentVolumeClaim holding the model files at its root.
    case persistentVolumeClaim(String)
    /// A folder on one node (`hostPath`), the pods pinned to that node (`kubernetes.io/hostname`).
    case hostPath(directory: String, node: String)
    /// An OCI image whose files are the models (an image volume: Kubernetes 1.33 and later).
    case image(String)

    /// Where the volume is mounted in the container.
    public static let mountPath = "/models"
    /// `pvc:models`: a claim the user creates and fills.
    public static let defaultStorage = ModelStorage.persistentVolumeClaim("models")

    /// Parses `pvc:CLAIM`, `hostpath:DIR` or `image:REF`; `node` pins a hostPath.
    ///
    /// - Throws: `ExportError.usage` naming the accepted forms.
    public static func parse(_ text: String, node: String) throws(ExportError) -> ModelStorage {
        let forms = "pvc:CLAIM, hostpath:DIR or image:REF"
        guard let colon = text.firstIndex(of: ":") else {
            throw .usage("--storage '\(text)' is not one of \(forms)")
        }
        let kind = text[..<colon]
        let value = String(text[text.index(after: colon)...])
        guard !value.isEmpty else { throw .usage("--storage '\(text)' names nothing after '\(kind):' (\(forms))") }
        switch kind {
        case "pvc":
            guard KubernetesName.isSubdomain(value) else {
                throw .usage("--storage pvc:\(value): '\(value)' is not a PersistentVolumeClaim name")
            }
            return .persistentVolumeClaim(value)
        case "hostpath":
            guard value.hasPrefix("/") else {
                throw .usage("--storage hostpath:\(value): the folder must be an absolute path on the node")
            }
            guard KubernetesName.isSubdomain(node) else {
                throw .usage("--node '\(node)' is not a Kubernetes node name")
            }
            let trimmed = value.count > 1 && value.hasSuffix("/") ? String(value.dropLast()) : value
            return .hostPath(directory: trimmed, node: node)
        case "image":
            guard !value.contains(where: \.isWhitespace) else {
                throw .usage("--storage image:\(value): not an image reference")
            }
            return .image(value)
        default:
            throw .usage("--storage '\(text)': unknown kind '\(kind)' (\(forms))")
        }
    }

    public var description: String {
        switch self {
        case .persistentVolumeClaim(let claim): "pvc:\(claim)"
        case .hostPath(let directory, _): "hostpath:\(directory)"
        case .image(let reference): "image:\(reference)"
        }
    }

    /// Where the model at `hostPath` is in the container: under the hostPath folder its path below it is kept,
    /// anything else is found by its file name at the volume's root.
    public func containerPath(forModelAt hostPath: String) -> String {
        if case .hostPath(let directory, _) = self {
            let prefix = directory == "/" ? "/" : directory + "/"
            if hostPath.hasPrefix(prefix) { return Self.mountPath + "/" + hostPath.dropFirst(prefix.count) }
        }
        return Self.mountPath + "/" + (hostPath as NSString).lastPathComponent
    }
}

/// How pods ask for GPUs.
public enum GPUAPI: String, Sendable, Equatable, CaseIterable, Codable {
    /// An extended resource in `resources.limits` (`nvidia.com/gpu: 1`), counted in whole devices.
    case devicePlugin = "device-plugin"
    /// Dynamic Resource Allocation: a `ResourceClaimTemplate` whose CEL selector asks for enough memory.
    case dra
}

/// A Kubernetes minor version from 1.33 to 1.37: the schemas the output is checked against.
public struct KubernetesVersion: Sendable, Equatable, Comparable, CustomStringConvertible, Codable {
    public var minor: Int

    public static let supported = 33...37
    public static let `default` = KubernetesVersion(minor: 34)

    public init(minor: Int) { self.minor = minor }

    /// Parses `1.34` (or `v1.34`, `1.34.2`).
    ///
    /// - Throws: `ExportError.usage` with the supported range.
    public static func parse(_ text: String) throws(ExportError) -> KubernetesVersion {
        let parts = (text.hasPrefix("v") ? String(text.dropFirst()) : text).split(separator: ".")
        guard parts.count >= 2, parts.count <= 3, parts[0] == "1", let minor = Int(parts[1]),
            parts.dropFirst(2).allSatisfy({ Int($0) != nil })
        else { throw .usage("--k8s-version '\(text)' is not a Kubernetes version such as 1.34") }
        guard supported.contains(minor) else {
            throw .usage(
                "--k8s-version \(text): supported are 1.\(supported.lowerBound) to 1.\(supported.upperBound)")
        }
        return KubernetesVersion(minor: minor)
    }

    public var description: String { "1.\(minor)" }

    public static func < (lhs: KubernetesVersion, rhs: KubernetesVersion) -> Bool { lhs.minor < rhs.minor }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try KubernetesVersion.parse(text)
    }
}

/// Kubernetes' name rules (RFC 1123), and the names instances get there.
public enum KubernetesName {
    /// A DNS label: lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit.
    public static func isLabel(_ name: String) -> Bool {
        guard (1...63).contains(name.count), let first = name.first, let last = name.last else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
            && first != "-" && last != "-"
    }

    /// A DNS subdomain: labels joined by `.`, at most 253.
    public static func isSubdomain(_ name: String) -> Bool {
        name.count <= 253
            && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isLabel(String($0)) }
    }

    /// The Kubernetes name of an instance: a Service name (a DNS label that starts with a letter), so `.` and `_`
    /// become `-`, and a name that starts with a digit gets `llama-` in front (cut to 63).
    public static func forInstance(_ name: String) -> String {
        var result = String(name.lowercased().map { $0 == "." || $0 == "_" ? "-" : $0 })
        if let first = result.first, !first.isLetter { result = "llama-" + result }
        result = String(result.prefix(63))
        while result.hasSuffix("-") { result.removeLast() }
        return result
    }
}
