//! The process's own resources: CPU time and anonymous resident memory (for the debug log of a
//! reconcile's phases), and the allocator settings that hand freed memory back to the system so
//! that the resident peak is what is in use.

/// CPU time used by the process so far in ms (Linux, clock ticks of 10 ms), for the debug log.
pub fn cpu_ms() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let user = f.get(11)?.parse::<u64>().ok()?;
            let sys = f.get(12)?.parse::<u64>().ok()?;
            Some((user + sys) * 10)
        })
        .unwrap_or(0)
}

/// Hands memory that was freed (the read's duplicate filter and body index, the model builder's
/// scratch) back to the system, so that the resident peak is what is in use.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it takes no pointers.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Large blocks (the model's vectors, hash tables, batches) come straight from the kernel and go
/// back to it when freed, instead of glibc raising its threshold and keeping them in the heap.
pub fn large_blocks_from_the_kernel() {
    // SAFETY: mallopt only sets an allocator parameter; 1 MiB is a valid M_MMAP_THRESHOLD.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// The process's anonymous resident memory in MB (Linux), for the debug log.
pub fn rss_anon_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
