//! Giving memory back to the operating system.
//!
//! A poll briefly needs several times the size of the answer (the parsed document, the records,
//! the store's bookkeeping, the next snapshot) and then frees it all; glibc keeps freed memory
//! in its arenas, so without help the resident size stays at every poll's peak. Handing free
//! pages back after each poll keeps the footprint at what the snapshot needs.

/// Returns free heap pages to the operating system (glibc `malloc_trim`); a no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim only takes glibc's arena locks and advises the kernel about free
        // pages; it has no preconditions and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}
