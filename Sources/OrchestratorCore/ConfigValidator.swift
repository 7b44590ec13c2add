import Foundation

/// Checks instance config files against `ConfigSpec` and the registries, reporting every problem of a
/// file at once, and decodes the valid ones into `InstanceConfig` values with the defaults filled in.
public struct ConfigValidator: Sendable {
    public var knownNames: KnownNames
    /// The host's physical core count is not resolved here; `threads` stays `nil` when unset.
    public init(knownNames: KnownNames) {
        self.knownNames = knownNames
    }

    /// Flags the command builder sets itself: a user `args` entry repeating one gets a warning.
    public static let managedFlags: Set<String> = [
        "-m", "--model", "--host", "--port", "-c", "--ctx-size", "-np", "--parallel", "-b", "--batch-size",
        "-ub", "--ubatch-size", "-t", "--threads", "-ngl", "--gpu-layers", "--n-gpu-layers", "--device", "-dev",
        "-ts", "--tensor-split", "-sm", "--split-mode", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v",
        "-fa", "--flash-attn", "--alias", "-a", "--fit",
    ]

    // MARK: Files

    /// Validates `instances/<name>/config.json` of a project.
    public func validate(instance name: String, in root: ProjectRoot) -> ConfigReport {
        validate(
            file: root.configFile(name), expectedName: name, displayPath: relativeToRoot(root.configFile(name), root))
    }

    /// Validates one file; `expectedName` is the folder name the config's `name` must equal.
    public func validate(file: String, expectedName: String, displayPath: String? = nil) -> ConfigReport {
        let shown = displayPath ?? file
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            return ConfigReport(
                file: shown, name: expectedName, config: nil,
                issues: [
                    ConfigIssue(
                        .error, path: "",
                        message: "no such file; create it with 'llama-orch init \(expectedName) --model PATH'")
                ])
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: file) else {
            return ConfigReport(
                file: shown, name: expectedName, config: nil,
                issues: [
                    ConfigIssue(.error, path: "", message: "cannot read the file (is it a folder, or unreadable?)")
                ])
        }
        let folder = (file as NSString).deletingLastPathComponent
        return validate(bytes: [UInt8](data), file: shown, folder: folder, expectedName: expectedName)
    }

    /// Validates config bytes; relative paths in it are resolved against `folder`.
    public func validate(bytes: [UInt8], file: String, folder: String, expectedName: String) -> ConfigReport {
        var issues: [ConfigIssue] = []
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            issues.append(ConfigIssue(.error, path: "", message: "invalid JSON: \(error.message)", at: error.position))
            return ConfigReport(file: file, name: expectedName, config: nil, issues: issues)
        }
        guard case .object(let members) = root.value else {
            issues.append(
                ConfigIssue(
                    .error, path: "", message: "expected a JSON object, found \(root.value.kindName)", at: root.position
                ))
            return ConfigReport(file: file, name: expectedName, config: nil, issues: issues)
        }
        var checker = ShapeChecker(knownNames: knownNames)
        checker.checkObject(members, fields: ConfigSpec.fields, path: "", position: root.position)
        issues = checker.issues
        issues += semanticIssues(reader: ObjectReader(members: members), folder: folder, expectedName: expectedName)
        guard !issues.contains(where: { $0.severity == .error }) else {
            return ConfigReport(file: file, name: expectedName, config: nil, issues: issues)
        }
        var config: InstanceConfig
        do {
            config = try JSONDecoder().decode(InstanceConfig.self, from: Data(bytes))
        } catch {
            // The shape check has passed, so this is a value it reads differently from Foundation.
            issues.append(ConfigIssue(.error, path: "", message: "JSONDecoder refuses the file: \(error)"))
            return ConfigReport(file: file, name: expectedName, config: nil, issues: issues)
        }
        config.model.resolvedPath = resolve(config.model.path, against: folder)
        config.binary.resolvedPath = config.binary.path.map { resolve($0, against: folder) }
        return ConfigReport(file: file, name: expectedName, config: config, issues: issues)
    }

    /// Validates every instance of a project, then checks them against each other (duplicate ports).
    public func validateAll(in root: ProjectRoot) -> [ConfigReport] {
        var reports = Self.instanceNames(in: root).map { validate(instance: $0, in: root) }
        var byPort: [Int: [Int]] = [:]
        for (index, report) in reports.enumerated() {
            if let port = report.config?.server.port { byPort[port, default: []].append(index) }
        }
        for (port, indices) in byPort where indices.count > 1 {
            for index in indices {
                let others = indices.filter { $0 != index }.map { reports[$0].name }.joined(separator: ", ")
                reports[index].issues.append(
                    ConfigIssue(
                        .error, path: "server.port",
                        message: "port \(port) is also used by instance \(others); give each instance its own port"))
                reports[index].config = nil
            }
        }
        // The router finds an instance by its name or an alias: each must mean one instance.
        var byRoutedName: [String: [Int]] = [:]
        for (index, report) in reports.enumerated() {
            for name in Set(report.config?.routedNames ?? []) { byRoutedName[name, default: []].append(index) }
        }
        for (name, indices) in byRoutedName.sorted(by: { $0.key < $1.key }) where indices.count > 1 {
            for index in indices where reports[index].config?.name != name {
                let others = indices.filter { $0 != index }.map { reports[$0].name }.joined(separator: ", ")
                reports[index].issues.append(
                    ConfigIssue(
                        .error, path: "router.aliases",
                        message:
                            "alias \"\(name)\" also names instance \(others); a router model name must mean one instance"
                    ))
                reports[index].config = nil
            }
        }
        return reports
    }

    /// The folder names under `instances/`, sorted (hidden entries skipped).
    public static func instanceNames(in root: ProjectRoot) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.instancesDirectory)) ?? []
        return entries.filter { entry in
            var isDirectory: ObjCBool = false
            return !entry.hasPrefix(".")
                && FileManager.default.fileExists(
                    atPath: root.instancesDirectory + "/" + entry, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }

    private func relativeToRoot(_ path: String, _ root: ProjectRoot) -> String {
        path.hasPrefix(root.path + "/") ? String(path.dropFirst(root.path.count + 1)) : path
    }

    // MARK: Rules across fields

    private func semanticIssues(reader: ObjectReader, folder: String, expectedName: String) -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        if let name = reader.string("name"), name != expectedName {
            issues.append(
                ConfigIssue(
                    .error, path: "name",
                    message:
                        "expected \"\(expectedName)\" (the folder name), found \"\(name)\"; rename the folder or the instance",
                    at: reader.position("name")))
        }
        if !matches(expectedName, ConfigSpec.namePattern) {
            issues.append(
                ConfigIssue(
                    .error, path: "",
                    message:
                        "the folder name '\(expectedName)' is not a valid instance name (\(ConfigSpec.namePattern))"))
        }
        let model = reader.object("model")
        if let path = model?.string("path"), !path.isEmpty {
            issues += modelFileIssues(path: path, folder: folder, position: model?.position("path"))
        }
        if let ubatch = model?.integer("ubatch_size") {
            let batch = model?.integer("batch_size") ?? InstanceConfig.Defaults.batchSize
            if ubatch > batch {
                issues.append(
                    ConfigIssue(
                        .error, path: "model.ubatch_size",
                        message: "expected at most batch_size (\(batch)), found \(ubatch)",
                        at: model?.position("ubatch_size")))
            }
        }
        let cacheV = model?.string("cache_type_v") ?? InstanceConfig.Defaults.cacheType.rawValue
        let flash = model?.string("flash_attention") ?? InstanceConfig.Defaults.flashAttention.rawValue
        if !["f16", "f32", "bf16"].contains(cacheV) {
            if flash == "off" {
                issues.append(
                    ConfigIssue(
                        .error, path: "model.cache_type_v",
                        message:
                            "a quantized V cache (\(cacheV)) needs flash attention; set flash_attention to on or auto",
                        at: model?.position("cache_type_v")))
            }
        }
        if let gpu = reader.object("gpu"), gpu.has("device_id"), gpu.has("devices") {
            issues.append(
                ConfigIssue(
                    .error, path: "gpu.devices", message: "use device_id or devices, not both",
                    at: gpu.position("devices")))
        }
        if let restart = reader.object("restart_policy") {
            if restart.bool("enabled") == false, let type = restart.string("type"), type != "never" {
                issues.append(
                    ConfigIssue(
                        .error, path: "restart_policy.enabled",
                        message: "enabled is false but type is \"\(type)\"; remove one of them",
                        at: restart.position("enabled")))
            }
            if let initial = restart.double("initial_delay"), let cap = restart.double("max_delay"), initial > cap {
                issues.append(
                    ConfigIssue(
                        .error, path: "restart_policy.initial_delay",
                        message: "expected at most max_delay (\(format(cap))), found \(format(initial))",
                        at: restart.position("initial_delay")))
            }
        }
        if let health = reader.object("healthcheck") {
            let interval = health.double("interval") ?? InstanceConfig.Defaults.healthcheck.interval
            if let timeout = health.double("timeout"), timeout > interval {
                issues.append(
                    ConfigIssue(
                        .warning, path: "healthcheck.timeout",
                        message:
                            "timeout (\(format(timeout)) s) is longer than interval (\(format(interval)) s); probes will overlap",
                        at: health.position("timeout")))
            }
        }
        if let binary = reader.object("binary"), let path = binary.string("path"), !path.isEmpty {
            let resolved = resolve(path, against: folder)
            let found: String? =
                switch FileKind(path: resolved) {
                case .directory: "a folder"
                case .special(let kind): kind
                case .missing: "no file"
                case .regular:
                    FileManager.default.isExecutableFile(atPath: resolved) ? nil : "a file that is not executable"
                }
            if let found {
                issues.append(
                    ConfigIssue(
                        .error, path: "binary.path",
                        message: "expected an executable llama-server, found \(found) at \(resolved)",
                        at: binary.position("path")))
            }
        }
        for (index, argument) in reader.strings("args").enumerated() {
            let flag = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
            if Self.managedFlags.contains(flag) {
                issues.append(
                    ConfigIssue(
                        .warning, path: "args[\(index)]",
                        message: "\(flag) is also set by llama-orch; the value in args wins and may break placement"))
            }
        }
        return issues
    }

    private func modelFileIssues(path: String, folder: String, position: JSONPosition?) -> [ConfigIssue] {
        let resolved = resolve(path, against: folder)
        let found: String? =
            switch FileKind(path: resolved) {
            case .regular: nil
            case .missing: "no file at \(resolved) (paths are relative to the config file's folder)"
            case .directory: "a folder at \(resolved)"
            case .special(let kind): "\(kind) at \(resolved): point it at a regular file"
            }
        if let found {
            return [
                ConfigIssue(
                    .error, path: "model.path", message: "expected a GGUF model file, found \(found)", at: position)
            ]
        }
        guard let handle = FileHandle(forReadingAtPath: resolved) else {
            return [
                ConfigIssue(.error, path: "model.path", message: "cannot read \(resolved) (permissions?)", at: position)
            ]
        }
        defer { try? handle.close() }
        let magic = (try? handle.read(upToCount: 4)) ?? Data()
        guard magic == Data("GGUF".utf8) else {
            let found = magic.count < 4 ? "a file of \(magic.count) bytes" : "a file that does not start with 'GGUF'"
            return [
                ConfigIssue(
                    .error, path: "model.path", message: "expected a GGUF model file, found \(found) at \(resolved)",
                    at: position)
            ]
        }
        return []
    }
}

/// `path` made absolute against `folder` and standardized (`..` removed).
public func resolve(_ path: String, against folder: String) -> String {
    let joined = path.hasPrefix("/") ? path : folder + "/" + path
    return URL(fileURLWithPath: joined).standardizedFileURL.path
}

func matches(_ text: String, _ pattern: String) -> Bool {
    text.range(of: pattern, options: .regularExpression) != nil
}

func format(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
}
