//! The process the bridge runs in: its async runtime and its memory allocator's settings.
//! Both binaries (the bridge and the test bridge) start through [`runtime`], so what is
//! measured is what ships.

/// The runtime the bridge runs on, after setting up the allocator.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// glibc gives threads that allocate concurrently arenas of their own, up to eight per core,
/// and each arena keeps the memory freed into it for itself. The bridge has many threads
/// (the runtime's, one per database connection, the blocking pool's) and mostly waits on the
/// network, so two arenas lose little to lock contention and keep freed memory reusable.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the runtime
    // starts its threads, and M_ARENA_MAX takes any positive value.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
