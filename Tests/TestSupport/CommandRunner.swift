import Foundation

/// The outcome of running a program to completion.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs built products of this package (the `llama-orch` binary, test helpers) and other programs.
public enum CommandRunner {
    /// The folder holding this package's built products (`.build/debug`), found from the test bundle.
    public static var productsDirectory: String {
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent().path
        }
        // swift-testing on Linux runs inside the .xctest binary: its folder is the products folder.
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }

    /// The path of a built product, failing loudly when it was not built.
    public static func product(_ name: String) -> String {
        productsDirectory + "/" + name
    }

    /// Runs `llama-orch` with `arguments` in `directory`.
    public static func llamaOrch(
        _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:], input: String? = nil
    ) throws -> CommandResult {
        try run(product("llama-orch"), arguments, in: directory, environment: environment, input: input)
    }

    /// Runs a program (no shell) and waits for it; standard output and error are captured.
    ///
    /// - Parameters:
    ///   - executable: an absolute path, or a name looked up on `PATH`.
    ///   - environment: added to this process's environment (less `LLAMA_ORCH_ROOT`).
    ///   - replacingEnvironment: when set, the child's whole environment instead.
    public static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String] = [:],
        replacingEnvironment: [String: String]? = nil, input: String? = nil
    ) throws -> CommandResult {
        let process = Process()
        if executable.hasPrefix("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "LLAMA_ORCH_ROOT")
        for (key, value) in environment { merged[key] = value }
        process.environment = replacingEnvironment ?? merged
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        let stdinPipe = Pipe()
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = stdinPipe
        try process.run()
        if let input { stdinPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdinPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty child can't block on a full pipe.
        nonisolated(unsafe) var errorData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errorData = stderrPipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outputData = stdoutPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, stdout: String(decoding: outputData, as: UTF8.self),
            stderr: String(decoding: errorData, as: UTF8.self))
    }
}
