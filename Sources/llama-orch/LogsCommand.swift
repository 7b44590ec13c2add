import ArgumentParser
import Foundation
import Host
import OrchestratorCore

/// `llama-orch logs`: an instance's server output, read from `logs/<name>/` (no daemon needed).
struct LogsCommand: OrchestratorCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print an instance's stdout.log (or --stderr: stderr.log); -f follows it across rotation.")

    @OptionGroup var global: RootOptions

    @Argument(help: "The instance.")
    var name: String

    @Option(name: .short, help: "Lines to print from the end.")
    var n: Int = 50

    @Flag(name: .short, help: "Follow: print new lines as they come, across rotation, until interrupted.")
    var f = false

    @Flag(name: .long, help: "stderr.log (llama-server writes most of its log there).")
    var stderr = false

    func execute() async throws {
        try InstanceNameError.check([name])
        let root = try global.projectRoot()
        let folder = root.logDirectory(name)
        guard
            FileManager.default.fileExists(atPath: folder)
                || FileManager.default.fileExists(atPath: root.configFile(name))
        else { throw CLIError(.notFound, "no instance '\(name)' and no logs at \(folder)") }
        let path = folder + (stderr ? "/stderr.log" : "/stdout.log")
        // The bytes as the server wrote them (not decoded: a server may print part of a character), from the
        // end of the file (a log may be 100 MiB). A log not written yet is empty.
        let (shown, end) = LogFile.lastLines(of: path, count: min(max(0, n), 100_000_000)) ?? ([], 0)
        // Written straight to the descriptor: a follower killed later must not leave these in a stdio buffer.
        if !shown.isEmpty {
            FileHandle.standardOutput.write(Data(shown.last == UInt8(ascii: "\n") ? shown : shown + [10]))
        }
        guard f else { return }
        try await follow(path, from: UInt64(end))
    }

    /// Prints what is appended to `path`. A file that shrank was rotated (copy-truncate) or replaced: reading
    /// starts again from its beginning.
    private func follow(_ path: String, from start: UInt64) async throws {
        var offset = start
        var inode = FileIdentity(path: path)?.inode ?? 0
        while true {
            try await Task.sleep(for: .milliseconds(200))
            let file = FileIdentity(path: path)
            let size = UInt64(file?.size ?? 0)
            if size < offset || (file?.inode ?? 0) != inode {
                offset = 0
                inode = file?.inode ?? 0
            }
            guard size > offset, let handle = FileHandle(forReadingAtPath: path) else { continue }
            try handle.seek(toOffset: offset)
            let data = try handle.readToEnd() ?? Data()
            try handle.close()
            offset += UInt64(data.count)
            FileHandle.standardOutput.write(data)
        }
    }

}
