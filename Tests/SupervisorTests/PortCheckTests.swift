import Foundation
import Host
import Supervisor
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The port check before a start: in use, or refused for another reason, said as such.
@Suite struct PortCheckTests {
    @Test func aPortThatCannotBeListenedOnForAnotherReasonIsNotCalledInUse() throws {
        let port = try LlamaServerProbe.freePort()
        #expect(PortInspector.bindCheck(host: "127.0.0.1", port: port) == .free)
        // Not numeric, and not an address of this machine: said as such, not "in use".
        for host in ["gpu-box", "[::1]"] {
            #expect(throws: SupervisorError.self) { try PortInspector.ensureFree(host: host, port: port) }
            #expect(
                PortInspector.bindCheck(host: host, port: port)
                    == .refused("server.host must be a numeric IPv4 or IPv6 address, or localhost"))
        }
        #expect(PortInspector.bindCheck(host: "192.0.2.1", port: port) == .refused("Cannot assign requested address"))
        do {
            try PortInspector.ensureFree(host: "192.0.2.1", port: port)
            Issue.record("192.0.2.1 is not this machine's address")
        } catch {
            #expect("\(error)".contains("cannot listen on 192.0.2.1 port \(port)"), "\(error)")
        }
        // Taken: in use.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0 && listen(listener, 1) == 0)
        #expect(PortInspector.bindCheck(host: "127.0.0.1", port: port) == .inUse)
    }
}
