import Foundation

extension Thread {
    /// Starts a thread that runs `body` under `name` (what `top -H` and `/proc/<pid>/task/*/comm` show; at most
    /// 15 bytes). The thread names itself: on Linux a name set before `start` never reaches the system thread.
    public static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        Thread {
            Thread.current.name = name
            body()
        }.start()
    }
}
