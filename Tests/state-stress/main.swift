// Test helper: hammers one state store from one process so that several of these at once can show
// that no update is lost. Usage: state-stress PATH WRITER-ID COUNT
import Foundation
import OrchestratorCore
import StateStore

let arguments = CommandLine.arguments
guard arguments.count == 4, let count = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: state-stress PATH WRITER-ID COUNT\n".utf8))
    exit(64)
}
do {
    let (store, _) = try StateStore.open(path: arguments[1])
    for index in 0..<count {
        try store.incrementRestartCount(for: "shared")
        try store.appendEvent(
            InstanceEvent(
                time: Date().timeIntervalSince1970, instance: "writer-\(arguments[2])", kind: "stress",
                message: "write \(index)"))
    }
} catch {
    FileHandle.standardError.write(Data("state-stress: \(error)\n".utf8))
    exit(1)
}
