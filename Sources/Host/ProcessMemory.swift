import CHostShims

/// This process's own heap: what the daemon limits at start and gives back when it is idle.
public enum ProcessMemory {
    /// Caps glibc's malloc arenas at `count`: a daemon whose threads come and go otherwise gets an arena per
    /// thread, each keeping freed memory. Does nothing where there is no such knob.
    public static func limitMallocArenas(_ count: Int) {
        _ = chost_limit_malloc_arenas(Int32(count))
    }

    /// Returns the free memory of malloc's arenas to the system (`malloc_trim`).
    public static func trimMalloc() {
        _ = chost_trim_malloc()
    }
}

/// This process's descriptor limit.
public enum ProcessLimits {
    /// Raises the soft limit on open descriptors to the hard limit (at most 1,048,576, Linux's default `nr_open`) and
    /// returns the limit now in force, or `nil` when it can't be read. The daemon holds two descriptors per proxied
    /// request (the client's and the server's) and one per idle kept-alive connection: the usual soft limit of
    /// 1,024 is reached by a few hundred clients, and past it the router refuses connections. Processes the
    /// daemon starts inherit the raised limit (llama-server waits on its sockets with poll, not select).
    @discardableResult
    public static func raiseOpenFileLimit() -> Int? {
        let limit = chost_raise_open_file_limit(1 << 20)
        return limit < 0 ? nil : Int(limit)
    }
}
