//! The gateway's cost against gRPC: the raw floor's two txn workloads sent again over etcd's
//! native gRPC API, with the `etcd-client` crate (tonic, plain HTTP/2), to the same member and
//! in the same interleaved run, so that the gateway's share of a txn's time shows.
//!
//! Built only with the `grpc` feature: etcd-client's build runs `protoc`, which
//! `scripts/bench.sh` installs (and enables the feature when it is there).

use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, KvClient, PutOptions, Txn, TxnOp, TxnResponse,
};

use crate::Res;
use crate::etcd::{RAW_LEASE_TTL_SECS, RAW_TIMEOUT, waiter_text};
use crate::measure::Kind;

/// The keys of the gRPC workloads: the gateway floor's, under `bench-raw/grpc/`.
const CYCLE_KEY: &str = "bench-raw/grpc/@lock/bench%2Flock/0123456789abcdef0123";
const CAS_KEY: &str = "bench-raw/grpc/cas";

/// Connects one etcd-client to the member at `base` (`http://127.0.0.1:PORT`: etcd serves gRPC
/// and the gateway on the same client port), and to no other member.
pub async fn connect(base: &str) -> Res<Client> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(RAW_TIMEOUT);
    Ok(Client::connect([base], Some(options)).await?)
}

/// The revision in a txn reply's header.
fn revision(reply: &TxnResponse) -> i64 {
    reply.header().map_or(0, |h| h.revision())
}

/// A raw gRPC workload: the same compares, ops and key shapes as the gateway's
/// [`crate::etcd::RawOp`] of the same name.
pub enum GrpcOp {
    /// Create txn (`CREATE == 0`, put on a lease), then delete txn (`MOD == rev`, delete).
    Cycle {
        kv: KvClient,
        key: Vec<u8>,
        value: Vec<u8>,
        lease: i64,
    },
    /// One compare-and-put txn (`MOD == rev`, put).
    Cas {
        kv: KvClient,
        key: Vec<u8>,
        rev: i64,
        n: u64,
    },
}

impl GrpcOp {
    /// The two gRPC workloads on `client`; the cycle's lease is granted here, outside every
    /// timed loop.
    pub async fn set(client: &Client) -> Res<Vec<GrpcOp>> {
        let mut kv = client.kv_client();
        let lease = client
            .lease_client()
            .grant(RAW_LEASE_TTL_SECS as i64, None)
            .await?
            .id();
        if lease == 0 {
            return Err("etcd granted no lease over gRPC".into());
        }
        let rev = kv
            .put(CAS_KEY, "0", None)
            .await?
            .header()
            .map_or(0, |h| h.revision());
        Ok(vec![
            GrpcOp::Cycle {
                kv: kv.clone(),
                key: CYCLE_KEY.into(),
                value: waiter_text().into_bytes(),
                lease,
            },
            GrpcOp::Cas {
                kv,
                key: CAS_KEY.into(),
                rev,
                n: 0,
            },
        ])
    }

    pub fn kind(&self) -> Kind {
        match self {
            GrpcOp::Cycle { .. } => Kind::GrpcCycle,
            GrpcOp::Cas { .. } => Kind::GrpcTxn,
        }
    }

    /// Revokes the cycle workload's lease through `client` (the end of the run; nothing for the
    /// CAS workload).
    pub async fn revoke(&self, client: &Client) -> Res<()> {
        if let GrpcOp::Cycle { lease, .. } = self {
            client.lease_client().revoke(*lease).await?;
        }
        Ok(())
    }

    /// One op; adds the time of the cycle's two txns to `phases`.
    pub async fn op(&mut self, phases: &mut [Duration; 2]) -> Res<()> {
        match self {
            GrpcOp::Cycle {
                kv,
                key,
                value,
                lease,
            } => {
                let t0 = Instant::now();
                let create = Txn::new()
                    .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(
                        key.clone(),
                        value.clone(),
                        Some(PutOptions::new().with_lease(*lease)),
                    )]);
                let reply = kv.txn(create).await?;
                if !reply.succeeded() {
                    return Err("gRPC create txn: the key already exists".into());
                }
                let rev = revision(&reply);
                let t1 = Instant::now();
                let delete = Txn::new()
                    .when([Compare::mod_revision(key.clone(), CompareOp::Equal, rev)])
                    .and_then([TxnOp::delete(key.clone(), None)]);
                if !kv.txn(delete).await?.succeeded() {
                    return Err("gRPC delete txn: the key changed".into());
                }
                phases[0] += t1 - t0;
                phases[1] += t1.elapsed();
            }
            GrpcOp::Cas { kv, key, rev, n } => {
                *n += 1;
                let cas = Txn::new()
                    .when([Compare::mod_revision(key.clone(), CompareOp::Equal, *rev)])
                    .and_then([TxnOp::put(key.clone(), n.to_string(), None)]);
                let reply = kv.txn(cas).await?;
                if !reply.succeeded() {
                    return Err(format!("gRPC CAS txn at revision {rev} failed").into());
                }
                *rev = revision(&reply);
            }
        }
        Ok(())
    }
}
