//! `Lease`: a lease kept alive in the background, and callbacks for its loss.

use std::future::Future;

use crate::Result;
use crate::convert::lease_out;
use crate::errors::check_open;

/// A kept-alive lease.
#[derive(Clone)]
pub struct Lease {
    inner: interlock::Lease,
    client: interlock::Client,
}

impl Lease {
    pub fn new(lease: interlock::Lease, client: interlock::Client) -> Self {
        Lease {
            inner: lease,
            client,
        }
    }

    pub fn core(&self) -> interlock::Lease {
        self.inner.clone()
    }

    pub fn id(&self) -> String {
        lease_out(self.inner.id())
    }

    /// The TTL in seconds.
    pub fn ttl(&self) -> f64 {
        self.inner.ttl().as_secs_f64()
    }

    pub fn is_lost(&self) -> bool {
        self.inner.is_lost()
    }

    /// Calls `callback` once when the lease is lost.
    pub fn on_lost(&self, callback: impl Fn() + Send + Sync + 'static) {
        self.inner.on_lost(callback);
    }

    pub fn revoke(&self) -> impl Future<Output = Result<bool>> + 'static {
        let lease = self.inner.clone();
        let open = check_open(&self.client);
        async move {
            open?;
            lease.revoke().await
        }
    }
}
