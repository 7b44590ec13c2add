import Foundation
import TestSupport
import Testing

/// The suites that start processes, run one test at a time: a stub script written by one test while another
/// test forks would be held open for writing by the child, and running it would fail with ETXTBSY.
@Suite(.serialized) struct SpawningProcesses {}

typealias ProgramRun = CommandResult

/// Runs a program found on PATH or by absolute path, without a shell; `nil` when it can't be started.
func runProgram(_ program: String, _ arguments: [String], environment: [String: String]? = nil) -> ProgramRun? {
    try? CommandRunner.run(program, arguments, replacingEnvironment: environment)
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
