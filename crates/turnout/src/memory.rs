//! Handing memory back to the operating system after the zone files are loaded.
//!
//! Parsing a zone makes many small allocations that are all freed once the compact snapshot
//! is built; glibc's allocator keeps those pages resident for reuse unless asked to trim. For a
//! 250,000-record zone that is the difference between ~115 MiB and ~40 MiB resident.

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
