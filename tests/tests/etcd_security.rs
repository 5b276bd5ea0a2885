//! The etcd backend against a real etcd member with authentication and with TLS: a client with
//! the right credentials works and keeps working after its token expires, wrong or missing
//! credentials are refused as `Unauthorized`, and a member serving https is reached when the
//! CA is given and refused with a clear message when it is not. With JWT tokens, a client's
//! token that predates a change to the users ("revision of auth store is old") or has expired
//! is replaced, for requests and for watches alike.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use interlock::{Client, ErrorKind, Event, EventKind, WatchStream};
use interlock_tests::etcd::{self, ClusterOptions, EtcdCluster, TlsFiles};

const PASSWORD: &str = "s3cret-pw";
/// Simple-token TTL given to etcd: a token unused this long (in seconds) is dropped.
const TOKEN_TTL_SECS: u64 = 1;

fn post(cluster: &EtcdCluster, path: &str, body: Value) -> Value {
    cluster
        .post(0, path, &body)
        .unwrap_or_else(|e| panic!("{path}: {e}\n{}", cluster.log_tails()))
}

/// Creates user `root` with [`PASSWORD`] and the root role, then turns authentication on.
fn enable_auth(cluster: &EtcdCluster) {
    post(cluster, "/v3/auth/role/add", json!({ "name": "root" }));
    post(
        cluster,
        "/v3/auth/user/add",
        json!({ "name": "root", "password": PASSWORD }),
    );
    post(
        cluster,
        "/v3/auth/user/grant",
        json!({ "user": "root", "role": "root" }),
    );
    post(cluster, "/v3/auth/enable", json!({}));
}

/// A token for `root` straight from the gateway.
fn authenticate(cluster: &EtcdCluster, password: &str) -> String {
    let reply = post(
        cluster,
        "/v3/auth/authenticate",
        json!({ "name": "root", "password": password }),
    );
    reply["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| panic!("no token in {reply}"))
        .to_owned()
}

/// The cluster's URL with `userinfo` (`user:password`) in it.
fn url_as(cluster: &EtcdCluster, userinfo: &str, prefix: &str) -> String {
    cluster
        .url(prefix)
        .replacen("etcd://", &format!("etcd://{userinfo}@"), 1)
}

async fn connect(url: &str) -> Client {
    Client::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// A runtime for one test, so that the [`etcd::serial`] guard is held outside of it.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The watch's next event, which must come within 10 s.
async fn next_event(watch: &mut WatchStream) -> Event {
    tokio::time::timeout(Duration::from_secs(10), watch.next_event())
        .await
        .expect("the watch delivers within 10 s")
        .expect("the watch stream is open")
        .expect("watch event")
}

fn value(entry: Option<interlock::Entry>) -> Value {
    entry.expect("the key is present").value
}

#[test]
fn auth_with_token_refresh() {
    let _serial = etcd::serial();
    runtime().block_on(auth_with_token_refresh_body());
}

async fn auth_with_token_refresh_body() {
    let started = Instant::now();
    let cluster = EtcdCluster::start_with(
        1,
        ClusterOptions {
            extra_args: vec![
                "--auth-token".into(),
                "simple".into(),
                "--auth-token-ttl".into(),
                TOKEN_TTL_SECS.to_string(),
            ],
            tls: None,
        },
    );
    enable_auth(&cluster);
    println!("etcd with auth ready in {:?}", started.elapsed());

    // The right credentials: reads, writes and locks work.
    let client = connect(&url_as(&cluster, &format!("root:{PASSWORD}"), "t/")).await;
    client.set("k", 1).await.expect("set with credentials");
    assert_eq!(value(client.get("k").await.unwrap()), json!(1));
    let lock = client.lock("l");
    lock.acquire(Some(Duration::from_secs(5)))
        .await
        .expect("lock with credentials");
    lock.release().await.expect("release with credentials");

    // A wrong password is refused at once, naming the user.
    let wrong = connect(&url_as(&cluster, "root:not-the-password", "t/")).await;
    let asked = Instant::now();
    let err = wrong.get("k").await.expect_err("wrong password");
    println!("wrong password: {err}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("'root'"), "{err}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "a refused password is final, not retried until the failover timeout: took {:?}",
        asked.elapsed()
    );

    // An unknown user likewise.
    let nobody = connect(&url_as(&cluster, "nobody:pw", "t/")).await;
    let err = nobody.set("k", 2).await.expect_err("unknown user");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("'nobody'"), "{err}");

    // No credentials at all: refused as Unauthorized, with a hint to give them.
    let anonymous = connect(&cluster.url("t/")).await;
    let asked = Instant::now();
    let err = anonymous.get("k").await.expect_err("no credentials");
    println!("no credentials: {err}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("credentials"), "{err}");
    assert!(asked.elapsed() < Duration::from_secs(3), "{err}");
    let err = match anonymous.watch("w/", None).await {
        Ok(_) => panic!("a watch without credentials was opened"),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");

    // Tokens do expire when idle: one taken straight from the gateway is refused after the TTL.
    let token = authenticate(&cluster, PASSWORD);
    let probe = json!({ "key": "dA==" });
    cluster
        .post_with_token(0, "/v3/kv/range", &probe, &token)
        .expect("a fresh token works");
    std::thread::sleep(Duration::from_secs(TOKEN_TTL_SECS + 2));
    let refused = cluster
        .post_with_token(0, "/v3/kv/range", &probe, &token)
        .expect_err("an expired token is refused");
    assert!(refused.contains("invalid auth token"), "{refused}");

    // The client's own token expired the same way; it authenticates again and carries on, for
    // plain requests and for a new watch.
    assert_eq!(
        value(client.get("k").await.expect("get after expiry")),
        json!(1)
    );
    tokio::time::sleep(Duration::from_secs(TOKEN_TTL_SECS + 2)).await;
    let mut watch = client.watch("w/", None).await.expect("watch after expiry");
    tokio::time::sleep(Duration::from_secs(TOKEN_TTL_SECS + 2)).await;
    let index = client.set("w/a", "x").await.expect("set after expiry");
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.key.as_str(), event.index),
        (EventKind::Put, "w/a", index)
    );
    tokio::time::sleep(Duration::from_secs(TOKEN_TTL_SECS + 2)).await;
    let lock = client.lock("l");
    lock.acquire(Some(Duration::from_secs(5)))
        .await
        .expect("lock after expiry");
    lock.release().await.expect("release after expiry");

    // Changing the password revokes the user's tokens: the client's attempt to authenticate
    // again with the old password is refused as Unauthorized.
    let admin = authenticate(&cluster, PASSWORD);
    cluster
        .post_with_token(
            0,
            "/v3/auth/user/changepw",
            &json!({ "name": "root", "password": "a-new-password" }),
            &admin,
        )
        .expect("change the password");
    let err = client.get("k").await.expect_err("old password");
    println!("after the password changed: {err}");
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("'root'"), "{err}");
    let renewed = connect(&url_as(&cluster, "root:a-new-password", "t/")).await;
    assert_eq!(value(renewed.get("k").await.unwrap()), json!(1));
    println!("auth test done in {:?}", started.elapsed());
}

#[test]
fn auth_with_jwt_tokens() {
    let _serial = etcd::serial();
    runtime().block_on(auth_with_jwt_tokens_body());
}

/// JWT lifetime given to etcd, in seconds.
const JWT_TTL_SECS: u64 = 3;

async fn auth_with_jwt_tokens_body() {
    let started = Instant::now();
    let keys = tempfile::tempdir().expect("temp dir for the JWT keys");
    let (private, public) = (keys.path().join("jwt.pem"), keys.path().join("jwt.pub"));
    for args in [
        vec!["genrsa", "-out", private.to_str().unwrap(), "2048"],
        vec![
            "rsa",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        let out = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("run openssl (is it installed?): {e}"));
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }
    let cluster = EtcdCluster::start_with(
        1,
        ClusterOptions {
            extra_args: vec![
                "--auth-token".into(),
                format!(
                    "jwt,pub-key={},priv-key={},sign-method=RS256,ttl={JWT_TTL_SECS}s",
                    public.display(),
                    private.display()
                ),
            ],
            tls: None,
        },
    );
    enable_auth(&cluster);
    println!("etcd with JWT auth ready in {:?}", started.elapsed());
    // Failover within 1 s, less than the JWT's lifetime: a stale token retried rather than
    // replaced would fail the request instead of lasting until the token expires.
    let url = format!(
        "{}&failover_timeout=1",
        url_as(&cluster, &format!("root:{PASSWORD}"), "t/")
    );
    let client = connect(&url).await;
    client.set("k", 1).await.expect("set with credentials");

    // A new user bumps the auth store's revision: every token issued before is refused ("the
    // revision of auth store is old"), by requests and by new watches; the client takes a new
    // one and carries on.
    let admin = authenticate(&cluster, PASSWORD);
    cluster
        .post_with_token(
            0,
            "/v3/auth/user/add",
            &json!({ "name": "someone-else", "password": "pw" }),
            &admin,
        )
        .expect("add a user");
    client
        .set("k", 1)
        .await
        .expect("a write as the first request after the auth store changed");
    let mut watch = client
        .watch("w/", None)
        .await
        .expect("a watch after the auth store changed");
    let index = client
        .set("w/a", "x")
        .await
        .expect("a write after the auth store changed");
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.key.as_str(), event.index),
        (EventKind::Put, "w/a", index)
    );
    let admin = authenticate(&cluster, PASSWORD);
    cluster
        .post_with_token(
            0,
            "/v3/auth/user/add",
            &json!({ "name": "a-third-user", "password": "pw" }),
            &admin,
        )
        .expect("add another user");
    // A watch first, before any request renews the token.
    let mut watch = client
        .watch("w/", None)
        .await
        .expect("a watch as the first request after the auth store changed");
    let index = client.set("w/b", "y").await.expect("set");
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.key.as_str(), event.index),
        (EventKind::Put, "w/b", index)
    );

    // An expired JWT is replaced the same way.
    tokio::time::sleep(Duration::from_secs(JWT_TTL_SECS + 1)).await;
    let mut watch = client
        .watch("w/", None)
        .await
        .expect("a watch after the token expired");
    assert_eq!(
        value(client.get("k").await.expect("get after expiry")),
        json!(1)
    );
    let index = client.set("w/c", "z").await.expect("set after expiry");
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.key.as_str(), event.index),
        (EventKind::Put, "w/c", index)
    );
    let lock = client.lock("l");
    lock.acquire(Some(Duration::from_secs(5)))
        .await
        .expect("lock after expiry");
    lock.release().await.expect("release after expiry");
    println!("JWT auth test done in {:?}", started.elapsed());
}

#[test]
fn tls_with_and_without_the_ca() {
    let _serial = etcd::serial();
    runtime().block_on(tls_with_and_without_the_ca_body());
}

async fn tls_with_and_without_the_ca_body() {
    let started = Instant::now();
    let certs = tempfile::tempdir().expect("temp dir for certificates");
    let tls = TlsFiles::generate(certs.path());
    let cluster = EtcdCluster::start_with(
        1,
        ClusterOptions {
            extra_args: Vec::new(),
            tls: Some(tls.clone()),
        },
    );
    println!("etcd with TLS ready in {:?}", started.elapsed());

    let url = cluster.url("t/");
    assert!(url.starts_with("etcd+https://127.0.0.1:"), "{url}");
    assert!(url.contains("&ca="), "{url}");
    let client = connect(&url).await;
    let mut watch = client.watch("w/", None).await.expect("watch over TLS");
    client.set("k", "v").await.expect("set over TLS");
    assert_eq!(value(client.get("k").await.unwrap()), json!("v"));
    let index = client.set("w/a", 7).await.expect("set over TLS");
    let event = next_event(&mut watch).await;
    assert_eq!(
        (event.kind, event.key.as_str(), event.index, event.value),
        (EventKind::Put, "w/a", index, Some(json!(7)))
    );
    let lock = client.lock("l");
    lock.acquire(Some(Duration::from_secs(5)))
        .await
        .expect("lock over TLS");
    lock.release().await.expect("release over TLS");

    // Without the CA the member's certificate is not trusted: unavailable, and the message says
    // why.
    let untrusted = format!(
        "etcd+https://{}?prefix=t/&failover_timeout=1",
        cluster.client_url(0)
    );
    let client = connect(&untrusted).await;
    let err = client.get("k").await.expect_err("untrusted certificate");
    println!("without the CA: {err}");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.to_string().to_ascii_lowercase().contains("certificate"),
        "the error names the certificate problem: {err}"
    );
    println!("TLS test done in {:?}", started.elapsed());
}
