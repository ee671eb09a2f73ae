//! Process set-up: logging (tracing) and allocator tuning. Server only.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::server::config::{Config, LogFormat};

/// Installs the global log subscriber. `RUST_LOG` wins over the configured
/// filter so an operator can raise verbosity without editing the file.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests that build several servers in one process) is harmless.
    let _ = match config.log_format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Keeps glibc's malloc, which SQLite's C code uses (Rust allocations go to
/// jemalloc, see main.rs), from hoarding large buffers: glibc raises its
/// mmap threshold after the first large buffer is freed, so later ones are
/// carved from per-thread arenas and stay resident (measured when argon2's
/// 19 MiB buffers still came from glibc: 34 MiB -> 644 MiB RSS after 100
/// registrations). A fixed threshold keeps large buffers mmapped and
/// returned on free.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; called once at
        // start-up before other threads exist.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        }
    }
}
