//! Scenario 4: two writer processes load one record in sessions, both change it, both save.
//! The second save must fail with the expected and the actual index instead of overwriting.

use std::time::Duration;

use interlock::{Client, ErrorKind};
use serde_json::json;

use crate::procs::{Commands, DynResult, emit, ts};
use crate::{Ctx, Outcome};

const RECORD: &str = "users/42";
const WAIT: Duration = Duration::from_secs(15);

/// `edit <n> <field> <value>`: load, change one field, save on "save"; after a conflict, reload
/// and re-apply the change on "reload".
pub async fn worker(client: Client, _id: u32, args: &[String]) -> DynResult<()> {
    let [field, value] = args else {
        return Err("usage: edit ID FIELD VALUE".into());
    };
    let mut commands = Commands::new();
    let mut session = client.session();
    let loaded = session.load_value(RECORD).await?.ok_or("record missing")?;
    let index = session.loaded_index(RECORD).unwrap_or(0);
    emit("loaded", json!({ "index": index, "value": loaded }));
    session.get_mut(RECORD).ok_or("record not tracked")?[field] = json!(value);
    commands.expect("save").await?;
    match session.save_changes().await {
        Ok(index) => emit("saved", json!({ "index": index })),
        Err(e) if e.kind() == ErrorKind::Conflict => {
            emit(
                "conflict",
                json!({ "kind": e.kind().as_str(), "message": e.to_string(),
                        "conflicts": e.conflicts() }),
            );
            // The right reaction: reload, re-apply the change, save again.
            commands.expect("reload").await?;
            let mut session = client.session();
            session.load_value(RECORD).await?.ok_or("record missing")?;
            session.get_mut(RECORD).ok_or("record not tracked")?[field] = json!(value);
            let index = session.save_changes().await?;
            let value = client.get(RECORD).await?.map(|e| e.value);
            emit("resaved", json!({ "index": index, "value": value }));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub async fn run(ctx: &Ctx) -> DynResult<Outcome> {
    let mut out = Outcome::default();
    let record = json!({ "name": "Ada Lovelace", "email": "ada@example.com", "city": "London" });
    let created = ctx.client.set(RECORD, record.clone()).await?;
    println!("   {RECORD} = {record} at index {created}");
    let edits = [("email", "ada@lovelace.org"), ("city", "Marylebone")];
    let mut g = ctx.group();
    for (n, (field, value)) in edits.iter().enumerate() {
        let args = [(n + 1).to_string(), field.to_string(), value.to_string()];
        g.spawn("edit", &format!("writer {}", n + 1), &args)?;
    }
    let mut loaded = Vec::new();
    for (i, (field, value)) in edits.iter().enumerate() {
        let m = g.expect(Some(i), "loaded", WAIT).await?;
        println!(
            "   {:>8}  writer {} (pid {}) loaded it at index {} and sets {field} = \"{value}\"",
            ts(m.at),
            i + 1,
            g.pid(i),
            m.u64("index")
        );
        loaded.push(m.u64("index"));
    }
    g.send(0, "save").await?;
    let first = g.expect(Some(0), "saved", WAIT).await?;
    let first_index = first.u64("index");
    println!(
        "   {:>8}  writer 1 save_changes(): saved at index {first_index}",
        ts(first.at)
    );
    g.send(1, "save").await?;
    let second = g.expect(Some(1), "conflict", WAIT).await?;
    let conflicts = second.body["conflicts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!(
        "   {:>8}  writer 2 save_changes(): ErrorKind::{}: {}",
        ts(second.at),
        second.str("kind"),
        second.str("message")
    );
    for c in &conflicts {
        println!(
            "{:14}err.conflicts(): key {}  expected index {}  actual index {}",
            "", c["key"], c["expected"], c["actual"]
        );
    }
    let after = ctx.client.get(RECORD).await?.ok_or("record vanished")?;
    println!("   stored now: {} at index {}", after.value, after.index);
    g.send(1, "reload").await?;
    let retried = g.expect(Some(1), "resaved", WAIT).await?;
    println!(
        "   {:>8}  writer 2 reloaded, re-applied its change, saved at index {}: {}",
        ts(retried.at),
        retried.u64("index"),
        retried.body["value"]
    );
    let statuses = g.finish().await?;

    out.check(
        loaded == [created, created],
        format!("both writers loaded the same version (index {created})"),
    );
    out.check(
        first_index > created,
        format!("the first save succeeded (index {created} -> {first_index})"),
    );
    let expected = json!([{ "key": RECORD, "expected": created, "actual": first_index }]);
    out.check(
        second.str("kind") == "Conflict" && second.body["conflicts"] == expected,
        format!(
            "the second save failed with ErrorKind::Conflict, expected index {created}, actual index {first_index}"
        ),
    );
    let mut want = record.clone();
    want["email"] = json!("ada@lovelace.org");
    out.check(
        after.index == first_index && after.value == want,
        "nothing was silently overwritten: the store kept the first writer's version",
    );
    want["city"] = json!("Marylebone");
    out.check(
        retried.body["value"] == want && statuses.iter().all(|s| s.success()),
        "after reloading, the second writer's change was applied on top of the first's",
    );
    out.summary = format!(
        "second save refused: expected index {created}, actual {first_index}; no lost update"
    );
    Ok(out)
}
