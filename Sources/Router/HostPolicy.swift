import Host
import OrchestratorCore

/// Which names a request may reach the router by (its `Host`), against DNS rebinding: a site whose name an
/// attacker points at 127.0.0.1 is, to the browser, the page's own origin, so its scripts send no `Origin` with a
/// GET and read the answer. Such a request names the attacker's host; the router refuses it with 403.
///
/// Applied only when the router listens on loopback (as ollama does): a router on the network is reached by
/// whatever names the network gives it, and needs `api_keys` there anyway. Allowed always: no `Host`, an IP
/// address (a rebinding needs a name), `localhost` and names under it, and this machine's name; besides those,
/// `router.allowed_hosts`: a name, `.name` for it and every name under it, or `*` for any.
public struct HostPolicy: Sendable, Equatable {
    public var names: [String]
    /// Whether the policy applies: the router listens on loopback.
    public var enforced: Bool
    /// This machine's name, lowercased.
    var machineName: String

    public init(names: [String], listeningOn host: String) {
        self.names = names.map { $0.lowercased() }
        enforced = ProjectSettings.Router.isLoopback(host: host)
        machineName = MachineName.read()
    }

    /// Whether a request naming `authority` (`host[:port]`) is answered.
    public func allows(_ authority: String?) -> Bool {
        guard enforced, let authority, !authority.isEmpty else { return true }
        if authority.hasPrefix("[") { return true }  // an IPv6 address
        let host = Self.name(authority)
        if host.allSatisfy({ $0 == "." || ("0"..."9").contains($0) }) { return true }  // an IPv4 address
        if host == "localhost" || host.hasSuffix(".localhost") || host == machineName { return true }
        return names.contains { entry in
            if entry == "*" || entry == host { return true }
            return entry.hasPrefix(".") && (host == entry.dropFirst() || host.hasSuffix(entry))
        }
    }

    /// The name in `authority` (`host[:port]`), lowercased, without the port or a final dot.
    static func name(_ authority: String) -> String {
        var host = authority.lowercased()
        if !host.hasPrefix("["), let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }
}
