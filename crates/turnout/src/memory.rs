//! How the server uses the C allocator (glibc's), so that what it holds follows what it serves.
//!
//! Parsing a zone or reading the store makes many allocations that are all freed once the
//! compact snapshot is built; glibc keeps those pages resident for reuse unless asked to trim.
//! For a 250,000-record zone that is the difference between ~115 MiB and ~40 MiB resident.
//!
//! Large blocks are the other half. glibc raises its mmap threshold each time a large block is
//! freed (up to 32 MiB), so after the first few, the load's large scratch buffers (pages of the
//! store, growing vectors) are carved from the arenas among the long-lived data, and what stays
//! resident after they are freed depends on which thread allocated what, and when: a restart of
//! 1,000 zones of 1,000 records held 258 to 379 MiB from one run to the next
//! (docs/benchmarks.md, "A million records"). A fixed threshold keeps every block above it in a
//! mapping of its own, handed back to the OS when freed. The query path allocates nothing, so
//! this costs it nothing.

/// Blocks at least this large get a mapping of their own (glibc's initial threshold, fixed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Sets the allocator up for a long-running server; call once, before any thread starts.
/// False when the allocator refused (glibc only; elsewhere a no-op that returns true).
#[allow(unsafe_code)]
pub fn configure_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; setting M_MMAP_THRESHOLD also
    // turns off its dynamic adjustment (mallopt(3)). Called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    true
}

/// Returns memory the allocator holds but no longer uses to the OS (glibc only; elsewhere a
/// no-op).
#[allow(unsafe_code)]
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
