//! Keeping the resident size small over years of polls and scrapes (glibc only; elsewhere these
//! do nothing).
//!
//! A poll briefly needs a few times the size of the answer (the parsed answer, its records, the
//! next snapshot) and then frees it all. glibc gives every thread that allocates its own arena
//! and keeps freed memory in it, so without help the resident size settles at every arena's
//! peak: threads that polled once hold megabytes of free memory each.

/// Makes every thread allocate from one arena. Must run before any other thread starts, which
/// is why it is a call at the top of `main` and not the `MALLOC_ARENA_MAX` variable (read by
/// glibc before `main` runs). The exporter allocates little and rarely at the same time from
/// several threads, so the shared lock costs nothing measurable.
pub fn use_one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// `M_ARENA_MAX` from glibc's `<malloc.h>`.
        const M_ARENA_MAX: std::ffi::c_int = -8;
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: mallopt only sets an allocator parameter; it has no memory-safety
        // preconditions. A failure (0) leaves glibc's default, which is merely larger.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

/// Returns free heap pages to the operating system (glibc `malloc_trim`), after the memory a
/// poll needed has been freed.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes glibc's arena locks and advises the kernel about free
        // pages; it has no preconditions and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}
