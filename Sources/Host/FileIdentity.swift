import CHostShims

/// A file's device, inode and size, from `stat` or `fstat`.
///
/// Read through a C helper rather than `struct stat`'s fields: Swift's member import visibility has failed to
/// see those fields in some builds (a release build blamed CDispatch), while the helper always compiles.
public struct FileIdentity: Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int

    /// The file at `path` (links followed); `nil` when it can't be looked at (errno says why).
    public init?(path: String) {
        self.init { chost_file_identity(path, -1, &$0, &$1, &$2) }
    }

    /// The file open on `descriptor`; `nil` when it isn't open (errno says why).
    public init?(descriptor: Int32) {
        self.init { chost_file_identity(nil, descriptor, &$0, &$1, &$2) }
    }

    /// Whether both name the same file (device and inode), whatever their sizes.
    public func isSameFile(as other: FileIdentity) -> Bool {
        device == other.device && inode == other.inode
    }

    private init?(_ read: (inout UInt64, inout UInt64, inout Int64) -> Int32) {
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var size: Int64 = 0
        guard read(&device, &inode, &size) == 0 else { return nil }
        self.init(device: device, inode: inode, size: Int(size))
    }

    public init(device: UInt64, inode: UInt64, size: Int) {
        self.device = device
        self.inode = inode
        self.size = size
    }
}
