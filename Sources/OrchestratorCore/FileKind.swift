import Foundation

/// What is at a path, following symbolic links, for files that must be regular before they are opened: opening a
/// FIFO for reading waits for a writer (a model path naming one hung `plan` and the daemon), and a device such as
/// `/dev/zero` reads forever.
public enum FileKind: Equatable, Sendable {
    case regular
    case directory
    /// A FIFO, a socket, a device: named for messages.
    case special(String)
    case missing

    public init(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            self = .missing
            return
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .special("a FIFO (named pipe)")
        case S_IFSOCK: self = .special("a socket")
        case S_IFCHR: self = .special("a character device")
        case S_IFBLK: self = .special("a block device")
        default: self = .special("not a regular file")
        }
    }
}
