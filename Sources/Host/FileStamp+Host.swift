import Foundation
import OrchestratorCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension FileStamp {
    /// The file at `path` as `stat` sees it now (symbolic links followed); `nil` when it can't be looked at.
    ///
    /// One `stat` call: `ps` stamps three files per instance (config, model, binary), and Foundation's
    /// `resolvingSymlinksInPath` and `attributesOfItem` made that 40 % of the daemon's answer to `ps` with 100
    /// instances (`scripts/bench-supervisor.sh`, goal (d)).
    public init?(path: String) {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        #if canImport(Darwin)
            let modified = Double(status.st_mtimespec.tv_sec) + Double(status.st_mtimespec.tv_nsec) / 1e9
        #else
            let modified = Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9
        #endif
        self.init(
            path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int(status.st_size),
            modified: modified)
    }
}
