//! Several servers over one etcd cluster behave as one store, a server's shutdown ends watches
//! without ending any client's lease, and a client's lock wait survives its server's restart.

use std::sync::Arc;
use std::time::Duration;

use interlock::Client;
use interlock_tests::Store;
use interlock_tests::server::Server;

const EXE: &str = env!("CARGO_BIN_EXE_interlock");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_of_two_servers_over_one_etcd_cluster_share_one_lock() {
    let store = Store::etcd();
    let a = Server::start(EXE, &store.url, &[]);
    let b = Server::start(EXE, &store.url, &[]);
    let rounds = 10;
    let mut workers = Vec::new();
    for (n, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let db = Client::connect(&server.url).await.unwrap();
        workers.push(tokio::spawn(async move {
            let lock = db.lock("shared");
            let mut seen = Vec::new();
            for _ in 0..rounds {
                let token = lock.acquire(None).await.unwrap();
                let entry = db.get("counter").await.unwrap();
                let (value, index) = entry.map_or((0, 0), |e| (e.value.as_u64().unwrap(), e.index));
                let r = db.put("counter", value + 1, index).await.unwrap();
                assert!(
                    r.successful,
                    "worker {n}: the counter moved while the lock was held"
                );
                seen.push((value, token));
                lock.release().await.unwrap();
            }
            seen
        }));
    }
    let mut seen = Vec::new();
    for w in workers {
        seen.extend(w.await.unwrap());
    }
    seen.sort();
    let total = 4 * rounds;
    assert_eq!(
        seen.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (0..total).collect::<Vec<u64>>()
    );
    assert!(
        seen.windows(2).all(|w| w[0].1 < w[1].1),
        "tokens do not increase with the counter: {seen:?}"
    );
    let direct = store.client().await;
    assert_eq!(
        direct.get("counter").await.unwrap().unwrap().value,
        serde_json::json!(total)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_watches_and_leaves_leases_alone() {
    let store = Store::sqlite();
    let mut server = Server::start(EXE, &store.url, &[]);
    let db = Client::connect(&server.url).await.unwrap();
    let lock = db.lock("held");
    lock.acquire(None).await.unwrap();
    let lease = db.lock_queue("held").await.unwrap()[0]
        .lease
        .expect("a lease");
    // An open watch (a stream that never ends by itself) must not keep the server from exiting.
    let mut watch = db.watch("", None).await.unwrap();
    let direct = Arc::new(store.client().await);
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(20));
        (status, server)
    });
    let (status, server) = status.await.unwrap();
    let status =
        status.unwrap_or_else(|| panic!("the server did not exit on SIGTERM:\n{}", server.log()));
    assert!(status.success(), "{status:?}\n{}", server.log());
    // The watch tries to resume for a while (15 s), then ends with an error, not silently.
    use futures::StreamExt;
    let next = tokio::time::timeout(Duration::from_secs(40), watch.next())
        .await
        .expect("the watch ended");
    match next {
        Some(Err(e)) => assert_eq!(e.kind(), interlock::ErrorKind::Unavailable, "{e}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The lock's lease is still alive on the store; only its keeper lost its way there.
    let ttl = direct.time_to_live(&[lease]).await.unwrap();
    assert!(ttl[0].is_some(), "the shutdown ended the client's lease");
    assert_eq!(direct.lock_queue("held").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_a_request_in_flight() {
    use std::io::{Read, Write};
    let store = Store::sqlite();
    let mut server = Server::start(EXE, &store.url, &[]);
    let request = interlock_tests::server::request(
        "PUT",
        "/v1/kv/in-flight",
        None,
        r#"{"value": {"sent": "across the shutdown"}}"#,
    );
    // The headers and most of the body, then SIGTERM, then the rest of the body.
    let (first, rest) = request.split_at(request.len() - 8);
    let mut stream =
        std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(first.as_bytes()).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.signal(nix::sys::signal::Signal::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.wait(Duration::ZERO).is_none(),
        "the server exited with a request in flight:\n{}",
        server.log()
    );
    stream.write_all(rest.as_bytes()).unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "{reply}\n{}",
        server.log()
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait(Duration::from_secs(20));
        (status, server)
    });
    let (status, server) = status.await.unwrap();
    let status = status
        .unwrap_or_else(|| panic!("the server did not exit after SIGTERM:\n{}", server.log()));
    assert!(status.success(), "{status:?}\n{}", server.log());
    let direct = store.client().await;
    assert_eq!(
        direct.get("in-flight").await.unwrap().unwrap().value,
        serde_json::json!({"sent": "across the shutdown"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_waiter_survives_its_server_being_killed_and_restarted() {
    let store = Store::sqlite();
    let mut server = Server::start(EXE, &store.url, &[]);
    let listen = server.url.trim_start_matches("http://").to_string();
    let url = store.url.clone();
    let direct = store.client().await;
    let holder = direct.lock("printer");
    let held = holder.acquire(None).await.unwrap();
    let remote = Client::connect(&server.url).await.unwrap();
    let waiter = remote.lock_with(
        "printer",
        interlock::LockOptions {
            ttl: Duration::from_secs(20),
            ..Default::default()
        },
    );
    let waiting = {
        let waiter = waiter.clone();
        tokio::spawn(async move { waiter.acquire(None).await })
    };
    let start = std::time::Instant::now();
    while direct.lock_queue("printer").await.unwrap().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the waiter never queued"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The waiter's server dies mid-wait and comes back on the same address; meanwhile the
    // holder releases. The waiter's watch resumes where it was and sees the release.
    server.kill();
    holder.release().await.unwrap();
    let server = tokio::task::spawn_blocking(move || Server::start_on(EXE, &url, &listen, &[]))
        .await
        .unwrap();
    let token = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .unwrap_or_else(|_| panic!("the waiter never got the lock:\n{}", server.log()))
        .unwrap()
        .unwrap();
    assert!(token > held);
    assert_eq!(waiter.fencing_token(), Some(token));
    waiter.release().await.unwrap();
    assert!(direct.lock_queue("printer").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_watch_resumes_past_compaction_when_its_server_restarts() {
    use interlock_tests::quiet::{
        expect_put, progress_cluster, wait_for_progress, write_elsewhere,
    };
    let cluster = progress_cluster(&[]);
    let store = cluster.url("app/");
    let mut server = Server::start(EXE, &store, &[]);
    let listen = server.url.trim_start_matches("http://").to_string();
    let db = Client::connect(&server.url).await.unwrap();
    let direct = Client::connect(&store).await.unwrap();
    let mut watch = db.watch("quiet/", None).await.unwrap();
    let last = write_elsewhere(&direct, 200).await;
    // The server passes etcd's progress on (at most every 5 s) as `progress` events.
    wait_for_progress(&mut watch, last, Duration::from_secs(30)).await;
    cluster
        .post(
            0,
            "/v3/kv/compaction",
            &serde_json::json!({ "revision": last, "physical": true }),
        )
        .expect("compaction");
    // A new server on the same address: the client's stream breaks and it reconnects.
    server.kill();
    let _server = Server::start_on(EXE, &store, &listen, &[]);
    let index = direct.set("quiet/a", "after").await.unwrap();
    expect_put(&mut watch, "quiet/a", index).await;
}
