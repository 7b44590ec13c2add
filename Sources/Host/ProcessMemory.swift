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
