import Foundation
import Testing

/// The suites that start processes, run one test at a time: a stub script written by one test while another
/// test forks would be held open for writing by the child, and running it would fail with ETXTBSY.
@Suite(.serialized) struct SpawningProcesses {}

/// A fresh temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "llama-orch-drivers-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `text` to `relative` (creating folders), optionally executable; returns the full path.
    @discardableResult
    func write(_ relative: String, _ text: String, executable: Bool = false) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
        if executable { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: full) }
        return full
    }

    /// Makes `relative` a symbolic link to `target`.
    func link(_ relative: String, to target: String) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: target)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// What a program printed on stdout and stderr, and its exit status.
struct ProgramRun {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program found on PATH or by absolute path, without a shell; `nil` when it can't be started.
func runProgram(_ program: String, _ arguments: [String], environment: [String: String]? = nil) -> ProgramRun? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : "/usr/bin/env")
    process.arguments = program.hasPrefix("/") ? arguments : [program] + arguments
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return nil }
    // Read stderr on the side so neither pipe fills up.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProgramRun(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}

/// The package folder (two levels above this file's folder).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The built `llama-orch` binary: beside the test bundle, else in `.build/debug`.
func llamaOrchBinary() throws -> String {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/llama-orch"
    for candidate in [besideTests, packageRoot + "/.build/debug/llama-orch"]
    where FileManager.default.isExecutableFile(atPath: candidate) {
        return candidate
    }
    Issue.record("no llama-orch binary beside the tests or in .build/debug; run 'swift build' first")
    throw CancellationError()
}
