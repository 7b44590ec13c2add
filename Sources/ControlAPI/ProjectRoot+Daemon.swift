import OrchestratorCore

extension ProjectRoot {
    /// The control API's unix socket (mode 0600).
    public var daemonSocket: String { stateDirectory + "/daemon.sock" }
    /// The running daemon's pid, written once it holds the lock.
    public var daemonPIDFile: String { stateDirectory + "/daemon.pid" }
    /// The file the daemon holds an exclusive `flock` on while it runs: one daemon per root.
    public var daemonLockFile: String { stateDirectory + "/daemon.lock" }
    /// Where a daemon started in the background writes its output.
    public var daemonLog: String { logsDirectory + "/daemon.log" }
}
