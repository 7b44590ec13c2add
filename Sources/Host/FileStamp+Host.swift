import Foundation
import OrchestratorCore

extension FileStamp {
    /// The file at `path` as `stat` sees it now (symbolic links followed); `nil` when it can't be looked at.
    public init?(path: String) {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: resolved),
            let size = (attributes[.size] as? NSNumber)?.intValue,
            let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value,
            let device = (attributes[.systemNumber] as? NSNumber)?.uint64Value
        else { return nil }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        self.init(path: path, device: device, inode: inode, size: size, modified: modified)
    }
}
