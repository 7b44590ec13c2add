import CHostShims
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `posix_spawn` the way every process llama-orch starts needs it: default signal dispositions and an empty
/// mask (a SIGTERM the parent ignores or blocks is never inherited), standard descriptors as asked, and
/// optionally a session of its own, no other descriptor of the parent, and a working folder.
public enum CleanSpawn {
    /// Where one of descriptors 0, 1 and 2 comes from.
    public enum Source: Sendable, Equatable {
        /// The parent's, as it is.
        case inherited
        /// A file opened for the child (`open(path, flags, mode)`).
        case file(String, flags: Int32, mode: mode_t = 0o644)
        /// A copy of one of the parent's descriptors (or of the child's 0, 1 or 2 set up before it).
        case descriptor(Int32)
    }

    /// Starts `argv[0]` (a path) with `argv`; returns its pid.
    ///
    /// - Parameters:
    ///   - environment: `NAME=value` entries; `nil` passes this process's environment on.
    ///   - newSession: the child leads a new session and process group (`POSIX_SPAWN_SETSID`).
    ///   - closeOthers: descriptors from 3 up are closed in the child (where the C library can).
    /// - Returns: the child's pid, or the `posix_spawn` error number.
    public static func spawn(
        _ argv: [String], environment: [String]? = nil, stdin: Source = .inherited, stdout: Source = .inherited,
        stderr: Source = .inherited, newSession: Bool = false, closeOthers: Bool = false,
        workingDirectory: String? = nil
    ) -> Result<pid_t, POSIXError> {
        guard let executable = argv.first, !executable.isEmpty else { return .failure(POSIXError(.ENOENT)) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, source) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch source {
            case .inherited: break
            case .file(let path, let flags, let mode):
                posix_spawn_file_actions_addopen(&actions, target, path, flags, mode)
            case .descriptor(let descriptor): posix_spawn_file_actions_adddup2(&actions, descriptor, target)
            }
        }
        if closeOthers { _ = chost_file_actions_addclosefrom(&actions, 3) }
        if let workingDirectory { _ = chost_file_actions_addchdir(&actions, workingDirectory) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        let flags =
            Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) | (newSession ? chost_spawn_setsid_flag() : 0)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let result: Int32
        if let environment {
            let variables = environment.map { strdup($0) } + [nil]
            defer { variables.forEach { free($0) } }
            result = posix_spawn(&pid, executable, &actions, &attributes, arguments, variables)
        } else {
            result = posix_spawn(&pid, executable, &actions, &attributes, arguments, environ)
        }
        return result == 0 ? .success(pid) : .failure(POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO))
    }
}
