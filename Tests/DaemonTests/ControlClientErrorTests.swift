import ControlAPI
import Foundation
import OrchestratorCore
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What the CLI says when the daemon is slow or speaks another version: not "the daemon does not answer".
@Suite struct ControlClientErrorTests {
    /// A unix socket that listens and never accepts: a request waits in the backlog, unanswered.
    private static func silentSocket(_ path: String) throws -> Int32 {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            Array(path.utf8CString).withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 && listen(descriptor, 4) == 0
            }
        }
        try #require(bound, "cannot listen on \(path)")
        return descriptor
    }

    @Test func aDaemonThatDoesNotAnswerInTimeIsATimeoutThatMayStillBeWorking() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/daemon.sock"
        let listener = try Self.silentSocket(path)
        defer { close(listener) }
        let client = ControlClient(socketPath: path, timeout: .milliseconds(300))
        do {
            _ = try await client.daemonInfo()
            Issue.record("a silent daemon answered")
        } catch {
            guard case .timedOut(let socket, let seconds, _) = error else {
                Issue.record("expected a timeout, got \(error)")
                return
            }
            #expect(socket == path && seconds == 0.3)
            #expect(error.exitCode == .failure)
            #expect(error.description.contains("gave no answer within 0.3 s"), "\(error.description)")
            #expect(error.description.contains("may still be working on it"), "\(error.description)")
        }
    }

    @Test func anAnswerThatCannotBeReadPointsAtAnotherVersion() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.path + "/daemon.sock"
        // An older daemon's description of itself, without the fields this version needs.
        let body = #"{"pid": 7}"#
        let server = try OneShotServer(unixPath: path) { _ in
            Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
        }
        defer { server.join() }
        let client = ControlClient(socketPath: path, timeout: .seconds(5))
        do {
            _ = try await client.daemonInfo()
            Issue.record("an unreadable answer was read")
        } catch {
            guard case .notUnderstood = error else {
                Issue.record("expected an answer not understood, got \(error)")
                return
            }
            #expect(error.exitCode == .daemonUnreachable)
            #expect(error.description.contains("a daemon of another version?"), "\(error.description)")
        }
    }
}
