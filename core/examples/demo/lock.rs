//! Scenario 1: a shared-resource lock with expiry. Four worker processes queue for one printer;
//! the second holder is SIGKILLed while holding, and the next waiter gets the lock once the dead
//! holder's lease runs out.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use interlock::{Client, LockOptions};
use serde_json::json;

use crate::procs::{DynResult, Group, emit, mono_ns, ts};
use crate::{Ctx, Outcome};

const LOCK: &str = "printer/first-floor";
const LAST_JOB: &str = "printer/first-floor/last-job";
const TTL: Duration = Duration::from_secs(2);
/// How long each worker holds the lock; `forever` is the one the parent kills.
const HOLDS: [&str; 4] = ["400", "forever", "300", "300"];
const KILLED: usize = 1;
const WAIT: Duration = Duration::from_secs(15);

/// `lock <id> <hold ms | forever>`: acquire, print with a fenced write, hold, release.
pub async fn worker(client: Client, id: u32, args: &[String]) -> DynResult<()> {
    let hold = args.first().map(String::as_str).unwrap_or("300");
    let owner = format!("worker {id} (pid {})", std::process::id());
    let lock = client.lock_with(
        LOCK,
        LockOptions {
            ttl: TTL,
            owner: Some(owner),
            lease: None,
        },
    );
    let token = lock.acquire(Some(Duration::from_secs(30))).await?;
    emit("acquired", json!({ "token": token, "mono": mono_ns() }));
    // The fenced write: it commits only while this worker still holds the lock.
    let index = client
        .txn()
        .require(&lock)
        .set(LAST_JOB, json!({ "worker": id, "token": token }))
        .commit()
        .await?;
    emit("printed", json!({ "index": index }));
    if hold == "forever" {
        emit("holding", json!({}));
        tokio::time::sleep(Duration::from_secs(60)).await;
        return Err("worker was not killed".into());
    }
    tokio::time::sleep(Duration::from_millis(hold.parse()?)).await;
    lock.release().await?;
    emit("released", json!({}));
    Ok(())
}

fn owner_of(w: &interlock::LockWaiter) -> String {
    w.owner["owner"].as_str().unwrap_or("?").to_string()
}

async fn show_queue(ctx: &Ctx, g: &Group) -> DynResult<Vec<interlock::LockWaiter>> {
    let queue = ctx.client.lock_queue(LOCK).await?;
    println!("   {:>8}  lock_queue(\"{LOCK}\"):", ts(g.elapsed()));
    if queue.is_empty() {
        println!("{:14}(empty)", "");
    }
    for w in &queue {
        let ttl = w
            .ttl_left
            .map_or("?".into(), |t| format!("{:.2}s", t.as_secs_f64()));
        println!(
            "{:14}{:<8} {:<22} token {:<5} lease ttl left {ttl}",
            "",
            if w.holder { "holder" } else { "waiting" },
            owner_of(w),
            w.token
        );
    }
    Ok(queue)
}

pub async fn run(ctx: &Ctx) -> DynResult<Outcome> {
    let mut out = Outcome::default();
    println!(
        "   {} worker processes want \"{LOCK}\" (lock TTL {}s); worker {} will be SIGKILLed while holding it",
        HOLDS.len(),
        TTL.as_secs(),
        KILLED + 1
    );
    let mut g = ctx.group();
    println!("   arrival (each worker starts once the previous one's waiter entry exists):");
    // Start the workers one by one, each after the previous one's waiter entry exists, so the
    // arrival order is known.
    let mut arrival_tokens = Vec::new();
    for (i, hold) in HOLDS.iter().enumerate() {
        let id = i + 1;
        let w = g.spawn(
            "lock",
            &format!("worker {id}"),
            &[id.to_string(), hold.to_string()],
        )?;
        let deadline = tokio::time::Instant::now() + WAIT;
        let token = loop {
            let queue = ctx.client.lock_queue(LOCK).await?;
            let me = format!("worker {id} (");
            if let Some(e) = queue.iter().find(|e| owner_of(e).starts_with(&me)) {
                break e.token;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("worker {id} never queued").into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        println!(
            "   {:>8}  worker {id} (pid {}) queued with token {token}",
            ts(g.elapsed()),
            g.pid(w)
        );
        arrival_tokens.push(token);
    }
    show_queue(ctx, &g).await?;

    // Follow the grants in the order they happen.
    println!("   grants and releases, as the workers reported them:");
    let mut grants = Vec::new(); // (worker, token)
    let mut kill_mono = 0;
    let mut after_kill = None;
    let mut gone_after_kill = false;
    let mut fenced_ok = true;
    for _ in 0..HOLDS.len() {
        let m = g.expect(None, "acquired", WAIT).await?;
        let (w, token) = (m.from, m.u64("token"));
        let mut line = format!(
            "   {:>8}  worker {} acquired, fencing token {token}",
            ts(m.at),
            w + 1
        );
        if kill_mono > 0 && after_kill.is_none() {
            let waited = Duration::from_nanos(m.u64("mono").saturating_sub(kill_mono));
            line += &format!(
                "  ({:.2}s after the kill: the dead holder's lease expired)",
                waited.as_secs_f64()
            );
            after_kill = Some((waited, m.u64("mono") > kill_mono));
        }
        println!("{line}");
        grants.push((w, token));
        let p = g.expect(Some(w), "printed", WAIT).await?;
        println!(
            "   {:>8}  worker {} fenced write txn().require(&lock): {LAST_JOB} at index {}",
            ts(p.at),
            w + 1,
            p.u64("index")
        );
        fenced_ok &= p.u64("index") > token;
        if after_kill.is_some() && grants.len() == KILLED + 2 {
            let queue = show_queue(ctx, &g).await?;
            let dead = format!("worker {} (", KILLED + 1);
            gone_after_kill = !queue.iter().any(|e| owner_of(e).starts_with(&dead));
        }
        if w == KILLED {
            g.expect(Some(w), "holding", WAIT).await?;
            kill_mono = mono_ns();
            g.kill(w)?;
            println!(
                "   {:>8}  parent: SIGKILL worker {} (pid {}) while it holds the lock",
                ts(g.elapsed()),
                w + 1,
                g.pid(w)
            );
            show_queue(ctx, &g).await?;
        } else {
            let r = g.expect(Some(w), "released", WAIT).await?;
            println!("   {:>8}  worker {} released", ts(r.at), w + 1);
        }
    }
    let statuses = g.finish().await?;
    let final_queue = ctx.client.lock_queue(LOCK).await?;
    let last_job = ctx.client.get(LAST_JOB).await?;

    let order: Vec<usize> = grants.iter().map(|(w, _)| w + 1).collect();
    let tokens: Vec<u64> = grants.iter().map(|(_, t)| *t).collect();
    let listed = |v: &[u64], sep: &str| v.iter().map(u64::to_string).collect::<Vec<_>>().join(sep);
    out.check(
        order == (1..=HOLDS.len()).collect::<Vec<_>>() && tokens == arrival_tokens,
        format!(
            "grants followed arrival order: workers {} with the tokens they queued with",
            order
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let increasing = tokens.windows(2).all(|w| w[0] < w[1]);
    out.check(
        increasing,
        format!(
            "fencing tokens strictly increasing: {}",
            listed(&tokens, " < ")
        ),
    );
    let (waited, after) = after_kill.unwrap_or_default();
    out.check(
        after && waited <= TTL + Duration::from_secs(1),
        format!(
            "worker {} got the lock {:.2}s after worker {} was killed (within TTL {}s + 1s)",
            KILLED + 2,
            waited.as_secs_f64(),
            KILLED + 1,
            TTL.as_secs()
        ),
    );
    out.check(
        gone_after_kill,
        format!(
            "the killed holder's entry is gone from lock_queue once worker {} holds the lock",
            KILLED + 2
        ),
    );
    let last_ok = last_job.as_ref().is_some_and(|e| {
        e.value == json!({ "worker": HOLDS.len(), "token": tokens.last().copied().unwrap_or(0) })
    });
    out.check(
        fenced_ok && last_ok,
        "every holder's fenced write committed; the last one is the last holder's",
    );
    let killed_ok = statuses[KILLED].signal() == Some(nix::sys::signal::Signal::SIGKILL as i32);
    let others_ok = statuses
        .iter()
        .enumerate()
        .all(|(i, s)| i == KILLED || s.success());
    out.check(
        killed_ok && others_ok,
        format!(
            "worker {} died of SIGKILL, the others exited cleanly",
            KILLED + 1
        ),
    );
    out.check(
        final_queue.is_empty(),
        "the lock's queue is empty at the end",
    );
    out.summary = format!(
        "tokens {} in arrival order; after the SIGKILL the next waiter got it in {:.2}s",
        listed(&tokens, "<"),
        waited.as_secs_f64()
    );
    Ok(out)
}
