//! `grpc-exporter`: see the library for everything; this only runs it.

// The static musl build (the release and the container image) runs on
// mimalloc: with musl's malloc it spent 15 % more CPU per probe. Only this
// binary sets it (the library and the other tools keep the system
// allocator), and only on musl: glibc's malloc is nearly as fast. Figures:
// docs-pending/speed2.md, "speed3".
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_arena_eager_commit`, the fifth entry of mimalloc's
/// `mi_option_t` (v2 and v3); libmimalloc-sys names no constant for it.
#[cfg(target_env = "musl")]
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

fn main() -> std::process::ExitCode {
    // mimalloc commits its first arena eagerly on Linux (it counts on
    // overcommit), which took the resident set from 4.2 to 10.9 MB;
    // committed as used, it is 4.5 MB. Set before the first allocation,
    // which is what creates the arena in the static build.
    #[cfg(target_env = "musl")]
    #[allow(unsafe_code)]
    // SAFETY: sets one integer option of the allocator; only this thread
    // exists yet.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
    }
    grpc_exporter::run_cli()
}
