//! The store's clock for lease expiry: a system-wide monotonic clock that keeps counting through
//! suspend (`CLOCK_BOOTTIME` on Linux), plus the boot identity, so that wall-clock steps never
//! expire or extend a lease and a reboot expires them all (docs/design.md, Leases).

use std::time::Duration;

/// Time since boot, the same in every process on the host.
pub(crate) fn now() -> Duration {
    imp::now()
}

/// An identifier that changes at every boot (Linux); elsewhere a constant, and reboots are
/// detected by the monotonic clock going backwards (see the SQLite store's `init`).
#[cfg_attr(target_family = "wasm", allow(dead_code))]
pub(crate) fn boot_id() -> String {
    imp::boot_id()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::time::Duration;

    use nix::time::{ClockId, clock_gettime};

    pub fn now() -> Duration {
        // CLOCK_BOOTTIME cannot fail on Linux ≥ 2.6.39; fall back to CLOCK_MONOTONIC anyway.
        let ts = clock_gettime(ClockId::CLOCK_BOOTTIME)
            .or_else(|_| clock_gettime(ClockId::CLOCK_MONOTONIC))
            .expect("a monotonic clock");
        Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)
    }

    pub fn boot_id() -> String {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".to_string())
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    use std::time::Duration;

    use nix::time::{ClockId, clock_gettime};

    pub fn now() -> Duration {
        let ts = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("a monotonic clock");
        Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32)
    }

    pub fn boot_id() -> String {
        // No boot identifier is read here; a reboot is still detected because the monotonic
        // clock restarts below the renewal times stored in the lease table.
        "unknown".to_string()
    }
}

#[cfg(not(unix))]
mod imp {
    use std::sync::OnceLock;
    use std::time::Duration;

    // std's Instant panics in WebAssembly; web-time's is `performance.now()` there.
    #[cfg(not(target_family = "wasm"))]
    use std::time::Instant;
    #[cfg(target_family = "wasm")]
    use web_time::Instant;

    static START: OnceLock<Instant> = OnceLock::new();

    pub fn now() -> Duration {
        START.get_or_init(Instant::now).elapsed()
    }

    pub fn boot_id() -> String {
        "process".to_string()
    }
}
