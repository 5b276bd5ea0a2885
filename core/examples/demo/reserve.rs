//! Scenario 2 (unique reservation: N processes race one create-if-absent) and scenario 3
//! (duplicate notifications 0.1 ms apart: create-if-absent marks a job as started).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use interlock::{Client, EventKind};
use serde_json::{Value, json};

use crate::procs::{Commands, DynResult, emit, mono_ns};
use crate::{Ctx, Outcome};

const EMAIL: &str = "emails/ada@example.com";
const RACERS: usize = 6;
const WAIT: Duration = Duration::from_secs(15);

/// `reserve <n>`: wait for "go", then try to reserve the address for users/<n>.
pub async fn reservation_worker(client: Client, id: u32) -> DynResult<()> {
    let mut commands = Commands::new();
    client.get(EMAIL).await?; // warm up: the race should be about the put, not the connect
    emit("ready", json!({}));
    commands.expect("go").await?;
    let r = client.put(EMAIL, format!("users/{id}"), 0).await?;
    emit(
        "result",
        json!({ "successful": r.successful, "index": r.index, "value": r.value }),
    );
    Ok(())
}

pub async fn run_reservation(ctx: &Ctx) -> DynResult<Outcome> {
    let mut out = Outcome::default();
    ctx.client.delete(EMAIL, None).await?; // a reused store may hold an earlier run's reservation
    println!(
        "   {RACERS} processes race put(\"{EMAIL}\", \"users/<n>\", index 0) at the same moment"
    );
    let mut g = ctx.group();
    for n in 1..=RACERS {
        g.spawn("reserve", &format!("process {n}"), &[n.to_string()])?;
    }
    for i in 0..RACERS {
        g.expect(Some(i), "ready", WAIT).await?;
    }
    for i in 0..RACERS {
        g.send(i, "go").await?;
    }
    let mut results = Vec::new();
    for i in 0..RACERS {
        results.push(g.expect(Some(i), "result", WAIT).await?);
    }
    let statuses = g.finish().await?;
    let stored = ctx.client.get(EMAIL).await?;

    let winners: Vec<&crate::procs::Msg> = results
        .iter()
        .filter(|m| m.body["successful"] == json!(true))
        .collect();
    let (win_value, win_index) = winners.first().map_or((Value::Null, 0), |w| {
        (w.body["value"].clone(), w.u64("index"))
    });
    for (i, m) in results.iter().enumerate() {
        let got = if m.body["successful"] == json!(true) {
            format!(
                "WON     reserved for {} at index {}",
                m.body["value"],
                m.u64("index")
            )
        } else {
            format!(
                "lost    already owned by {} (index {})",
                m.body["value"],
                m.u64("index")
            )
        };
        println!("   process {} (pid {:>7})  {got}", i + 1, g.pid(i));
    }
    out.check(
        winners.len() == 1,
        format!("exactly one winner ({} of {RACERS})", winners.len()),
    );
    let losers_know = results
        .iter()
        .filter(|m| m.body["successful"] != json!(true))
        .all(|m| m.body["value"] == win_value && m.u64("index") == win_index);
    out.check(
        losers_know,
        format!(
            "every loser learned the owner: {win_value} at index {win_index}, from the failed put itself"
        ),
    );
    out.check(
        stored.is_some_and(|e| e.value == win_value && e.index == win_index),
        "the store holds the winner's reservation",
    );
    out.check(
        statuses.iter().all(|s| s.success()),
        "every process exited cleanly",
    );
    out.summary = format!(
        "{} winner of {RACERS} ({win_value}); {} losers told the owner",
        winners.len(),
        results.len() - winners.len()
    );
    Ok(out)
}

const JOBS: [&str; 3] = ["7001", "7002", "7003"];
const GAP: Duration = Duration::from_micros(100);

/// `consumer <n>`: for each "job <id>" line, mark the job started (create-if-absent) and run it
/// only if that succeeded.
pub async fn consumer_worker(client: Client, id: u32) -> DynResult<()> {
    let mut commands = Commands::new();
    client.get("jobs/0/started").await?; // warm up
    emit("ready", json!({}));
    while let Some(line) = commands.next().await {
        let received = mono_ns();
        let job = line.strip_prefix("job ").ok_or("expected 'job <id>'")?;
        let me = format!("consumer {id}");
        let mark = json!({ "by": me });
        let r = client.put(&format!("jobs/{job}/started"), mark, 0).await?;
        if r.successful {
            // The job's side effect, done only by the one that marked it started.
            client
                .set(&format!("jobs/{job}/result"), json!({ "done_by": me }))
                .await?;
        }
        emit(
            "handled",
            json!({ "job": job, "started": r.successful, "index": r.index,
                    "value": r.value, "received": received }),
        );
    }
    Ok(())
}

pub async fn run_notifications(ctx: &Ctx) -> DynResult<Outcome> {
    let mut out = Outcome::default();
    for e in ctx.client.list("jobs/", None, None).await?.entries {
        ctx.client.delete(&e.key, None).await?;
    }
    let from = ctx.client.index().await? + 1;
    println!(
        "   2 consumer processes get every \"job started\" notification twice, {} ms apart;",
        GAP.as_secs_f64() * 1e3
    );
    println!(
        "   each does put(\"jobs/<id>/started\", ..., index 0) and runs the job only if it won"
    );
    let mut g = ctx.group();
    for n in 1..=2 {
        g.spawn("consumer", &format!("consumer {n}"), &[n.to_string()])?;
    }
    for i in 0..2 {
        g.expect(Some(i), "ready", WAIT).await?;
    }
    let mut all_ok = true;
    let mut gaps = Vec::new();
    for (j, job) in JOBS.iter().enumerate() {
        let order = if j % 2 == 0 { [0, 1] } else { [1, 0] };
        let line = format!("job {job}");
        let t0 = mono_ns();
        g.send(order[0], &line).await?;
        let sent = Instant::now();
        while sent.elapsed() < GAP {
            std::hint::spin_loop();
        }
        let t1 = mono_ns();
        g.send(order[1], &line).await?;
        let a = g.expect(Some(order[0]), "handled", WAIT).await?;
        let b = g.expect(Some(order[1]), "handled", WAIT).await?;
        let apart = |x: u64, y: u64| x.abs_diff(y) as f64 / 1e6;
        let gap = apart(a.u64("received"), b.u64("received"));
        gaps.push(gap);
        println!(
            "   job {job}: sent to consumer {}, then to consumer {} {:.3} ms later; received {gap:.3} ms apart",
            order[0] + 1,
            order[1] + 1,
            apart(t0, t1)
        );
        let (win, dup) = if a.body["started"] == json!(true) {
            (&a, &b)
        } else {
            (&b, &a)
        };
        for m in [&a, &b] {
            let what = if m.body["started"] == json!(true) {
                format!(
                    "created jobs/{job}/started at index {} and ran the job",
                    m.u64("index")
                )
            } else {
                format!(
                    "conflict: already started at index {} by {} -> dropped, did nothing",
                    m.u64("index"),
                    m.body["value"]["by"]
                )
            };
            println!("      consumer {}  {what}", m.from + 1);
        }
        all_ok &= win.body["started"] == json!(true)
            && dup.body["started"] == json!(false)
            && dup.u64("index") == win.u64("index")
            && dup.body["value"] == json!({ "by": format!("consumer {}", win.from + 1) });
    }
    let statuses = g.finish().await?;

    // Count what was written under jobs/ since the scenario began, from the store's event log.
    let entries = ctx.client.list("jobs/", None, None).await?.entries;
    let target = entries.iter().map(|e| e.index).max().unwrap_or(0);
    let mut puts: BTreeMap<String, usize> = BTreeMap::new();
    let mut events = ctx.client.watch("jobs/", Some(from)).await?;
    while let Ok(Some(event)) = tokio::time::timeout(WAIT, events.next()).await {
        let event = event?;
        if event.kind == EventKind::Put {
            *puts.entry(event.key).or_default() += 1;
        }
        if event.index >= target {
            break;
        }
    }
    let once = JOBS.iter().all(|j| {
        puts.get(&format!("jobs/{j}/started")) == Some(&1)
            && puts.get(&format!("jobs/{j}/result")) == Some(&1)
    });
    out.check(
        all_ok,
        "for every job exactly one consumer started it; the duplicate saw the winner's index and did nothing",
    );
    out.check(
        once,
        format!(
            "the event log shows each job marked and run exactly once ({} puts for {} jobs)",
            puts.values().sum::<usize>(),
            JOBS.len()
        ),
    );
    out.check(
        statuses.iter().all(|s| s.success()),
        "both consumers exited cleanly",
    );
    let gaps: Vec<String> = gaps.iter().map(|g| format!("{g:.2}")).collect();
    out.summary = format!(
        "{} jobs, duplicates {} ms apart, all dropped",
        JOBS.len(),
        gaps.join("/")
    );
    Ok(out)
}
