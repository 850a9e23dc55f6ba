//! How the server uses the C allocator (glibc's), so that what it holds follows what it serves.
//!
//! Parsing a zone or reading the store makes many allocations that are all freed once the
//! compact snapshot is built; glibc keeps those pages resident for reuse unless asked to trim.
//! For a 250,000-record zone that is the difference between ~115 MiB and ~40 MiB resident.
//!
//! How glibc tunes itself is the other half. Each time a large block is freed it raises its
//! mmap threshold to that block's size (up to 32 MiB) and its trim threshold to twice that, so
//! after the first few loads free() stops handing the top of the heap back (up to 64 MiB stays
//! per arena) and the load's large scratch buffers are carved from the arenas among the
//! long-lived data. What stays resident then depends on what was freed after the last trim:
//! a restart of 1,000 zones of 1,000 records held 258 to 379 MiB from one run to the next
//! (docs/benchmarks.md, "A million records"). Fixed thresholds keep free() trimming (at most
//! 4 MiB stays free at the top of an arena) and give every block of 1 MiB or more a mapping of
//! its own, handed back when freed: 258 to 266 MiB in every run since. (A mmap threshold of
//! 128 KiB made starts 10 % slower with its many mappings, a trim threshold of 128 KiB 5 %
//! with its many trims.) The query path allocates nothing, so this costs it nothing.

/// Blocks at least this large get a mapping of their own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1024 * 1024;
/// free() hands the top of an arena back once this much of it is free.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 4 * 1024 * 1024;

/// Sets the allocator up for a long-running server; call once, before any thread starts.
/// False when the allocator refused (glibc only; elsewhere a no-op that returns true).
#[allow(unsafe_code)]
pub fn configure_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets parameters of the allocator; setting them also turns off
    // their dynamic adjustment (mallopt(3)). Called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
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
