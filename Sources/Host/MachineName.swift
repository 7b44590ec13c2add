import Foundation

/// This machine's host name.
public enum MachineName {
    /// `gethostname`, lowercased; `localhost` when it cannot be read.
    public static func read() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).lowercased()
    }
}
