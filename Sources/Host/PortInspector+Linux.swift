import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The process that holds a TCP port, as far as `/proc` tells.
public struct PortHolder: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    /// The short command name (`/proc/<pid>/comm`).
    public var command: String?
    /// The instance, when the holder carries an llama-orch marker (an orphan of an earlier run).
    public var instance: String?

    public var description: String {
        var text = "pid \(pid)"
        if let command { text += " (\(command))" }
        if let instance { text += ", a server of instance \(instance) that llama-orch no longer supervises" }
        return text
    }
}

/// Checks a TCP port before a server is started, and names whoever holds it.
public enum PortInspector {
    /// Whether a listening socket could be bound to `host:port` now.
    public static func canBind(host: String, port: Int) -> Bool {
        bindCheck(host: host, port: port) == .free
    }

    public enum BindCheck: Equatable, Sendable {
        case free
        /// Another socket listens there (EADDRINUSE).
        case inUse
        /// Any other reason, in words.
        case refused(String)
    }

    public static func bindCheck(host: String, port: Int) -> BindCheck {
        guard (1...65535).contains(port) else { return .refused("port \(port) is not 1...65535") }
        let isIPv6 = host.contains(":")
        let descriptor = socket(
            isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .refused("socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let numericHint = "server.host must be a numeric IPv4 or IPv6 address, or localhost"
        let result: Int32
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            if inet_pton(AF_INET6, host, &address.sin6_addr) != 1 { return .refused(numericHint) }
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            let numeric = host == "localhost" ? "127.0.0.1" : host
            if inet_pton(AF_INET, numeric, &address.sin_addr) != 1 { return .refused(numericHint) }
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard result == 0, listen(descriptor, 1) == 0 else {
            return errno == EADDRINUSE ? .inUse : .refused(String(cString: strerror(errno)))
        }
        return .free
    }

    /// The process listening on TCP `port` (IPv4 or IPv6), found through the socket's inode in
    /// `/proc/net/tcp{,6}` and the `socket:[inode]` links in `/proc/*/fd`; `nil` when it can't be seen
    /// (another user's process, another network namespace).
    public static func holder(of port: Int) -> PortHolder? {
        holders(of: port).first
    }

    /// A process outside `group` that listens on `port`, when no process of `group` does: someone else
    /// answers on the instance's port (an orphan of an earlier run, another program that bound it first).
    ///
    /// `nil` when a member of `group` listens, or when the listener can't be seen.
    public static func stranger(on port: Int, notIn group: Int32) -> PortHolder? {
        let targets = listeningSockets(on: port)
        guard !targets.isEmpty else { return nil }
        // The common case first: the group's leader (the server) holds the socket, and a look at its own
        // descriptors settles it without going through every process.
        if group > 1 && holds(pid: group, anyOf: targets) { return nil }
        let found = holders(of: targets)
        if found.contains(where: { ProcFS.stat($0.pid)?.processGroup == group }) { return nil }
        return found.first
    }

    /// Every process that holds a socket listening on `port`.
    static func holders(of port: Int) -> [PortHolder] {
        holders(of: listeningSockets(on: port))
    }

    /// The `socket:[inode]` names of the sockets listening on `port`, IPv4 and IPv6.
    ///
    /// The tables are read a chunk at a time: after many short connections they list thousands of sockets in
    /// TIME_WAIT (megabytes of text), and fifty servers checked at once must not each hold a copy.
    static func listeningSockets(on port: Int) -> Set<String> {
        let wanted = hexPort(port)
        var inodes = Set<String>()
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            ProcFS.forEachLine(of: table) { line in
                if let inode = listeningInode(in: line, port: wanted) { inodes.insert("socket:[\(inode)]") }
            }
        }
        return inodes
    }

    private static func holders(of targets: Set<String>) -> [PortHolder] {
        guard !targets.isEmpty else { return [] }
        return ProcFS.allPIDs().filter { holds(pid: $0, anyOf: targets) }.map { pid in
            PortHolder(
                pid: pid, command: ProcFS.commandName(pid),
                instance: ProcFS.environment(pid)?[ProcessMarker.instance])
        }
    }

    /// Whether one of `pid`'s open descriptors is one of the `targets` sockets.
    static func holds(pid: Int32, anyOf targets: Set<String>) -> Bool {
        let folder = "/proc/\(pid)/fd"
        guard let directory = opendir(folder) else { return false }
        defer { closedir(directory) }
        var link = [CChar](repeating: 0, count: 64)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.first?.isNumber == true else { continue }
            let count = readlink("\(folder)/\(name)", &link, link.count - 1)
            guard count > 0 else { continue }
            let target = String(decoding: link[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if targets.contains(target) { return true }
        }
        return false
    }

    /// The inodes of sockets listening on `port` in one `/proc/net/tcp` table.
    static func listeningInodes(in table: String, port: Int) -> [String] {
        let wanted = hexPort(port)
        return table.split(separator: "\n").dropFirst().compactMap { listeningInode(in: $0, port: wanted) }
    }

    /// `port` as the tables write it: four upper-case hex digits.
    static func hexPort(_ port: Int) -> String {
        let digits = String(port, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// The inode of one table line's socket if it listens on `wanted` (hex); `nil` for any other line.
    static func listeningInode(in line: Substring, port wanted: String) -> String? {
        let fields = line.split(separator: " ", maxSplits: 10, omittingEmptySubsequences: true)
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        guard fields.count > 9, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":") else { return nil }
        guard fields[1][fields[1].index(after: colon)...].uppercased() == wanted, fields[9] != "0" else { return nil }
        return String(fields[9])
    }
}
