import NIOCore

/// Runs the jobs of the tasks that prefer it on one NIO event loop: the router's server, its connections' tasks and
/// its upstream client all live on that loop, so a request goes from the client's socket to llama-server's and back
/// without waking another thread (`withTaskExecutorPreference` in `RouterServer.makeService`).
///
/// Serves the router benchmark's goals (b) and (a) (README, "Router benchmark"): with the tasks on Swift's global
/// pool, every request crossed threads four to six times (socket loop to task and back, twice), and on a 2-core
/// machine those wake-ups were most of the router's cost.
final class EventLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
