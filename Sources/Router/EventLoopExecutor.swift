import NIOCore

/// Runs the jobs of the tasks that prefer it on one NIO event loop: the router's server, its connections' tasks and
/// its upstream client all live on that loop, so a request goes from the client's socket to llama-server's and back
/// without waking another thread (`withTaskExecutorPreference` in `RouterServer.makeService`).
///
/// Serves the router benchmark's goal (a), the latency the router adds (README, "Router benchmark"): with the tasks
/// on Swift's global pool every request crossed threads four to six times (socket loop to task and back, twice);
/// on one loop the added median went from 0.44-0.52 ms to 0.36-0.44 ms in the same runs. The price: the router uses
/// one thread, and its throughput under wrk on 2 shared cores was about 10 % lower.
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
