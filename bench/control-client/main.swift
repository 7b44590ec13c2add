// One question to a running daemon, as `ps --json` asks it, through one of two clients: the CLI's blocking
// `PlainHTTP` exchange, or AsyncHTTPClient on an event loop. `scripts/bench-control-client.sh` starts this
// program many times for each and prints the medians: what `PlainHTTP` buys a short-lived command.
//
//   bench-control-client plain|ahc SOCKET PATH
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PlainHTTP

let arguments = CommandLine.arguments
guard arguments.count == 4, ["plain", "ahc"].contains(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: bench-control-client plain|ahc SOCKET PATH\n".utf8))
    exit(64)
}
let (socket, path) = (arguments[2], arguments[3])
var body: [UInt8] = []
if arguments[1] == "plain" {
    guard
        case .success(let response) = PlainHTTP.exchange(
            .unix(path: socket), method: "GET", path: path, timeout: .seconds(10)),
        response.status == 200
    else { exit(1) }
    body = response.body
} else {
    let client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton)
    let host = socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket
    do {
        let response = try await client.execute(
            HTTPClientRequest(url: "http+unix://\(host)\(path)"), timeout: .seconds(10))
        guard response.status.code == 200 else { exit(1) }
        body = Array(buffer: try await response.body.collect(upTo: 64 << 20))
        try await client.shutdown()
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(1)
    }
}
FileHandle.standardOutput.write(Data(body))
