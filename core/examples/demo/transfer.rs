//! Scenario 5: worker processes move money between a few accounts at the same time. Each
//! transfer loads both accounts in a session, checks the business rule (no negative balance),
//! changes both and saves them in one transaction checked at the loaded indexes, inside
//! `interlock::retry`: on a conflict it recomputes from fresh values.

use std::collections::BTreeMap;
use std::time::Duration;

use interlock::{Client, Error, ErrorKind};
use serde_json::{Value, json};

use crate::procs::{Commands, DynResult, emit};
use crate::{Ctx, Outcome};

const ACCOUNTS: [&str; 4] = [
    "accounts/alice",
    "accounts/bob",
    "accounts/carol",
    "accounts/dave",
];
const START: i64 = 100;
const WORKERS: usize = 4;
const TRANSFERS: usize = 25;
const ATTEMPTS: u32 = 50;
const SHOWN_RETRIES: usize = 6;

/// One attempt: `Some(index)` if committed, `None` if the rule declined it.
async fn transfer_once(
    client: &Client,
    from: &str,
    to: &str,
    amount: i64,
    think: Duration,
) -> interlock::Result<Option<u64>> {
    let mut session = client.session();
    let loaded = session.load_many(&[from, to]).await?;
    let balance = |v: &Option<Value>, key: &str| {
        v.as_ref()
            .and_then(|v| v["balance"].as_i64())
            .ok_or_else(|| Error::invalid(format!("{key} has no balance")))
    };
    let (from_balance, to_balance) = (balance(&loaded[0], from)?, balance(&loaded[1], to)?);
    if from_balance < amount {
        return Ok(None); // the business rule: no negative balance
    }
    // The time a real service spends between reading and writing: room for others to interfere.
    tokio::time::sleep(think).await;
    for (key, balance) in [(from, from_balance - amount), (to, to_balance + amount)] {
        let doc = session
            .get_mut(key)
            .ok_or_else(|| Error::internal("not tracked"))?;
        doc["balance"] = json!(balance);
    }
    session.save_changes().await
}

/// `transfer <n> <count>`: on "go", run `count` random transfers.
pub async fn worker(client: Client, id: u32, args: &[String]) -> DynResult<()> {
    let count: usize = args.first().ok_or("missing count")?.parse()?;
    let mut rng = fastrand::Rng::with_seed(0x5eed_0000 + u64::from(id));
    let mut commands = Commands::new();
    client.get(ACCOUNTS[0]).await?; // warm up
    emit("ready", json!({}));
    commands.expect("go").await?;
    for n in 1..=count {
        let a = rng.usize(..ACCOUNTS.len());
        let b = (a + rng.usize(1..ACCOUNTS.len())) % ACCOUNTS.len();
        let (from, to, amount) = (ACCOUNTS[a], ACCOUNTS[b], rng.i64(1..=40));
        let think = Duration::from_micros(rng.u64(500..3000));
        let (index, attempts) = interlock::retry(ATTEMPTS, |attempt| {
            let client = client.clone();
            async move {
                let r = transfer_once(&client, from, to, amount, think).await;
                if let Err(e) = &r {
                    if e.kind() == ErrorKind::Conflict {
                        emit(
                            "retry",
                            json!({ "n": n, "attempt": attempt + 1, "from": from, "to": to,
                                    "amount": amount, "conflicts": e.conflicts() }),
                        );
                    }
                }
                r.map(|index| (index, attempt + 1))
            }
        })
        .await?;
        emit(
            "transfer",
            json!({ "n": n, "from": from, "to": to, "amount": amount,
                    "committed": index.is_some(), "index": index, "attempts": attempts }),
        );
    }
    emit("done", json!({}));
    Ok(())
}

#[derive(Default)]
struct Stats {
    committed: usize,
    declined: usize,
    retries: usize,
    most_attempts: u64,
    done: bool,
}

pub async fn run(ctx: &Ctx) -> DynResult<Outcome> {
    let mut out = Outcome::default();
    let mut setup = ctx.client.txn();
    for key in ACCOUNTS {
        let owner = key.trim_start_matches("accounts/");
        setup.set(key, json!({ "owner": owner, "balance": START }));
    }
    setup.commit().await?;
    println!(
        "   {} accounts with {START} each; {WORKERS} processes run {TRANSFERS} random transfers each,",
        ACCOUNTS.len()
    );
    println!(
        "   load both -> check \"no negative balance\" -> modify -> save_changes, in retry({ATTEMPTS})"
    );
    let mut g = ctx.group();
    for n in 1..=WORKERS {
        g.spawn(
            "transfer",
            &format!("worker {n}"),
            &[n.to_string(), TRANSFERS.to_string()],
        )?;
    }
    for i in 0..WORKERS {
        g.expect(Some(i), "ready", Duration::from_secs(15)).await?;
    }
    for i in 0..WORKERS {
        g.send(i, "go").await?;
    }
    let mut stats: Vec<Stats> = (0..WORKERS).map(|_| Stats::default()).collect();
    let mut ledger: BTreeMap<String, i64> =
        ACCOUNTS.iter().map(|k| (k.to_string(), START)).collect();
    let (mut done, mut shown) = (0, 0);
    println!("   conflicts seen by save_changes (each one recomputed and retried):");
    while done < WORKERS {
        let m = g.recv(Duration::from_secs(30)).await?;
        let s = &mut stats[m.from];
        match m.event() {
            "retry" => {
                s.retries += 1;
                if shown < SHOWN_RETRIES {
                    shown += 1;
                    let c = &m.body["conflicts"][0];
                    println!(
                        "      worker {} transfer #{:<2} {} -> {} {:>3}: attempt {} conflicted on {} (expected index {}, actual {})",
                        m.from + 1,
                        m.u64("n"),
                        m.str("from").trim_start_matches("accounts/"),
                        m.str("to").trim_start_matches("accounts/"),
                        m.body["amount"],
                        m.u64("attempt"),
                        c["key"].as_str().unwrap_or("?"),
                        c["expected"],
                        c["actual"]
                    );
                }
            }
            "transfer" => {
                s.most_attempts = s.most_attempts.max(m.u64("attempts"));
                if m.body["committed"] == json!(true) {
                    s.committed += 1;
                    let amount = m.body["amount"].as_i64().unwrap_or(0);
                    *ledger.entry(m.str("from").to_string()).or_default() -= amount;
                    *ledger.entry(m.str("to").to_string()).or_default() += amount;
                } else {
                    s.declined += 1;
                }
            }
            "done" => {
                s.done = true;
                done += 1;
            }
            "exit" if !s.done => {
                return Err(format!("{} exited before it was done", g.label(m.from)).into());
            }
            _ => {}
        }
    }
    let statuses = g.finish().await?;
    let total_retries: usize = stats.iter().map(|s| s.retries).sum();
    if total_retries > shown {
        println!("      ... and {} more", total_retries - shown);
    }
    println!("   worker  committed  declined (rule)  conflicts retried  most attempts");
    for (i, s) in stats.iter().enumerate() {
        println!(
            "   {:<6}  {:>9}  {:>15}  {:>17}  {:>13}",
            i + 1,
            s.committed,
            s.declined,
            s.retries,
            s.most_attempts
        );
    }
    let finals = ctx.client.get_many(&ACCOUNTS).await?;
    println!("   account           start  final  from the ledger of committed transfers");
    let mut total = 0;
    let mut matches = finals.len() == ACCOUNTS.len();
    let mut negative = false;
    for e in &finals {
        let balance = e.value["balance"].as_i64().unwrap_or(i64::MIN);
        let expected = ledger.get(&e.key).copied().unwrap_or_default();
        println!("   {:<16}  {START:>5}  {balance:>5}  {expected:>5}", e.key);
        total += balance;
        matches &= balance == expected;
        negative |= balance < 0;
    }
    let start_total = START * ACCOUNTS.len() as i64;
    println!("   {:<16}  {start_total:>5}  {total:>5}", "total");

    let committed: usize = stats.iter().map(|s| s.committed).sum();
    let declined: usize = stats.iter().map(|s| s.declined).sum();
    out.check(
        committed + declined == WORKERS * TRANSFERS && statuses.iter().all(|s| s.success()),
        format!(
            "all {} transfers finished: {committed} committed, {declined} declined by the rule, \
             {total_retries} conflicts retried",
            WORKERS * TRANSFERS
        ),
    );
    out.check(!negative, "no balance went negative");
    out.check(
        matches,
        "every final balance equals start + the committed transfers: no update was lost",
    );
    out.check(
        total == start_total,
        format!("the total is unchanged: {start_total} -> {total}"),
    );
    out.summary = format!(
        "{committed} transfers committed, {total_retries} conflicts retried, total {start_total} -> {total}"
    );
    Ok(out)
}
