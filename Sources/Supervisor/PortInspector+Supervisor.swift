import Host

extension PortInspector {
    /// Throws `SupervisorError.portInUse` naming the holder when `port` is taken on `host`, and
    /// `invalidLaunch` saying why when it can't be listened on for another reason (an address that isn't
    /// numeric or isn't this machine's, no descriptors left).
    ///
    /// The check binds with `SO_REUSEADDR`, as llama-server does, so connections of an earlier run lingering in
    /// TIME_WAIT don't count as "in use"; only a listener does.
    public static func ensureFree(host: String, port: Int) throws(SupervisorError) {
        guard (1...65535).contains(port) else { throw .invalidLaunch(reason: "port \(port) is not 1...65535") }
        switch bindCheck(host: host, port: port) {
        case .free: return
        case .inUse: throw .portInUse(port: port, holder: holder(of: port))
        case .refused(let reason): throw .invalidLaunch(reason: "cannot listen on \(host) port \(port): \(reason)")
        }
    }
}
