import Foundation

/// What a service manager command printed and how it exited.
public struct SystemCommandResult: Sendable, Equatable {
    /// The exit status; 127 when the program could not be started.
    public var status: Int32
    /// Standard output and standard error, together.
    public var output: String

    public init(status: Int32, output: String) {
        self.status = status
        self.output = output
    }
}

/// Runs service manager commands (`systemctl`, `launchctl`): injected, so tests record the commands instead of
/// touching the machine's services.
public protocol SystemCommandRunning: Sendable {
    /// Runs `argv` (no shell; `argv[0]` is looked up in PATH) and waits for it.
    func run(_ argv: [String]) -> SystemCommandResult
    /// Whether `program` can be run; by default, whether it is found in PATH.
    func isAvailable(_ program: String) -> Bool
}

extension SystemCommandRunning {
    /// Whether `program` can be found in PATH.
    public func isAvailable(_ program: String) -> Bool {
        ProcessCommandRunner.locate(program) != nil
    }
}

/// Runs commands as child processes with Foundation's `Process`.
public struct ProcessCommandRunner: SystemCommandRunning {
    public init() {}

    public func run(_ argv: [String]) -> SystemCommandResult {
        guard let program = argv.first, let executable = Self.locate(program) else {
            return SystemCommandResult(status: 127, output: "\(argv.first ?? "(nothing)"): not found in PATH")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return SystemCommandResult(status: 127, output: "\(executable): \(error.localizedDescription)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return SystemCommandResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    /// The executable `program` names: itself when it holds a `/`, else the first match in PATH.
    public static func locate(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = folder + "/" + program
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
