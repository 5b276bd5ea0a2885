//! Real etcd clusters on loopback for tests: start one of any size, point interlock at it with
//! [`EtcdCluster::url`], and inject faults into single members (kill, pause, resume, restart).
//!
//! Each member is an `etcd` process (3.4 or later, installed by `scripts/setup-etcd.sh`) with its
//! own client and peer port on 127.0.0.1 and its own directory under
//! `<temp dir>/interlock-etcd/<pid>-<random>/m<i>/`, which holds the data dir (`data/`) and the
//! member's log (`etcd.log`); nothing is printed to the test's output. Clusters run with short
//! Raft timings (heartbeat [`HEARTBEAT_MS`], election timeout [`ELECTION_MS`]) so that a lost
//! leader is replaced within about a second; etcd derives its lease TTL floor from them
//! ([`MIN_LEASE_TTL_SECS`]).
//!
//! Members never outlive the test process: they are spawned with a parent-death signal
//! (`PR_SET_PDEATHSIG` = SIGKILL) from one thread that lives as long as the process, because the
//! kernel sends that signal when the *thread* that forked the child exits. This matters for
//! [`EtcdCluster::shared`], whose cluster is never dropped (test binaries run no static
//! destructors). A cluster removes its directory when dropped; directories left behind by test
//! processes that no longer run (the shared cluster's, or any after a crash) are removed by the
//! next [`EtcdCluster::start`].
//!
//! Status polls and the raw-gateway helpers ([`EtcdCluster::post`], [`EtcdCluster::put`],
//! [`EtcdCluster::get`]) speak HTTP/JSON through `ureq`: a small synchronous client with no async
//! runtime of its own, so the harness works the same from a plain `#[test]` and from inside a
//! `#[tokio::test]` (a blocking `reqwest` client panics when it is dropped inside a runtime, and
//! shelling out to `etcdctl` costs a process per poll). Connections are not pooled, so no request
//! ever goes out over a connection to a member process that has since been killed.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, OpenOptions};
use std::io;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid, getppid};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Raft heartbeat interval of every member, in milliseconds.
pub const HEARTBEAT_MS: u64 = 50;
/// Raft election timeout of every member, in milliseconds: how long followers wait for a lost
/// leader before electing another.
pub const ELECTION_MS: u64 = 500;
/// The shortest lease TTL the cluster grants: etcd raises shorter ones to 1.5 election timeouts
/// (750 ms here), rounded up to whole seconds.
pub const MIN_LEASE_TTL_SECS: u64 = 1;
/// Operations allowed in one transaction: interlock allows 128 operations of its own in a
/// transaction but adds reads and checks to them, above etcd's default of 128.
pub const MAX_TXN_OPS: usize = 1024;

/// How long a start or a restart may take before the harness gives up.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// Whole-cluster starts to try when a picked port turns out to be taken by someone else.
const START_ATTEMPTS: usize = 4;
/// Timeout of one status poll: a paused or dead member must not hold up a wait for long.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);
/// Timeout of one request through [`EtcdCluster::post`].
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of each member's log quoted when the harness panics.
const LOG_TAIL_LINES: usize = 25;

/// Serialises the tests that start clusters of their own. On a machine with few CPUs, several
/// clusters (plus the tests' own work) competing for them delay heartbeats enough to cause
/// spurious elections, which make fault timings unreliable; tests that start a cluster hold this
/// guard for as long as the cluster runs. A panic in another holder does not poison it.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running etcd cluster on loopback; dropping it kills every member and removes its data.
///
/// Members are numbered from 0. Every method takes `&self`, so one cluster can be shared by a
/// workload and the code that injects faults into it.
pub struct EtcdCluster {
    dir: TempDir,
    ports: Vec<u16>,
    token: String,
    members: Mutex<Vec<Member>>,
    http: ureq::Agent,
    options: ClusterOptions,
}

/// How [`EtcdCluster::start_with`] configures every member beyond the defaults of
/// [`EtcdCluster::start`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Extra command-line flags, such as `--auth-token-ttl 1`.
    pub extra_args: Vec<String>,
    /// Serve client URLs over https with these files (peers still talk plain http); the
    /// harness's own requests then trust [`TlsFiles::ca`] and [`EtcdCluster::url`] names it.
    pub tls: Option<TlsFiles>,
}

/// A certificate authority and a server certificate it signed for `127.0.0.1` (as an IP
/// subject alternative name), all PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Generates a fresh CA and a server certificate for `127.0.0.1` in `dir` with the `openssl`
    /// command-line tool (`ca.pem`, `server.pem`, `server-key.pem`); panics if that fails.
    pub fn generate(dir: &Path) -> TlsFiles {
        let files = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        };
        let ca_key = dir.join("ca-key.pem");
        let csr = dir.join("server.csr");
        let ext = dir.join("server.ext");
        fs::write(
            &ext,
            "subjectAltName = IP:127.0.0.1\n\
             basicConstraints = CA:FALSE\n\
             keyUsage = digitalSignature, keyEncipherment\n\
             extendedKeyUsage = serverAuth\n",
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", ext.display()));
        let p = |p: &Path| p.display().to_string();
        let steps: [Vec<String>; 3] = [
            vec![
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=interlock test CA",
            ]
            .into_iter()
            .map(str::to_owned)
            .chain(["-keyout".into(), p(&ca_key), "-out".into(), p(&files.ca)])
            .collect(),
            vec![
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
            ]
            .into_iter()
            .map(str::to_owned)
            .chain(["-keyout".into(), p(&files.key), "-out".into(), p(&csr)])
            .collect(),
            vec!["x509", "-req", "-days", "2"]
                .into_iter()
                .map(str::to_owned)
                .chain([
                    "-in".into(),
                    p(&csr),
                    "-CA".into(),
                    p(&files.ca),
                    "-CAkey".into(),
                    p(&ca_key),
                    "-CAcreateserial".into(),
                    "-extfile".into(),
                    p(&ext),
                    "-out".into(),
                    p(&files.cert),
                ])
                .collect(),
        ];
        for args in steps {
            let out = Command::new("openssl")
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("run openssl (is it installed?): {e}"));
            assert!(
                out.status.success(),
                "openssl {}: {}\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        files
    }
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    dir: PathBuf,
    /// Raft member id, as the gateway renders it (a decimal string).
    id: String,
    child: Option<Child>,
    paused: bool,
}

impl Member {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

enum StartError {
    /// A member could not bind one of its ports: start again on others.
    PortTaken(String),
    Failed(String),
}

impl EtcdCluster {
    /// Starts a cluster of `members` etcd processes and waits until every member answers, they
    /// agree on a leader and each serves a linearizable read. Panics (quoting the members' logs)
    /// if that takes longer than 30 s. Blocks the calling thread while it waits.
    pub fn start(members: usize) -> EtcdCluster {
        EtcdCluster::start_with(members, ClusterOptions::default())
    }

    /// [`EtcdCluster::start`] with extra flags for every member, or client URLs served over TLS.
    pub fn start_with(members: usize, options: ClusterOptions) -> EtcdCluster {
        assert!(members >= 1, "an etcd cluster needs at least one member");
        remove_stale_dirs();
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match EtcdCluster::try_start(members, &options) {
                Ok(cluster) => return cluster,
                Err(StartError::PortTaken(report)) => last = report,
                Err(StartError::Failed(report)) => panic!("{report}"),
            }
        }
        panic!(
            "etcd cluster of {members}: a port was taken by another process on each of \
             {START_ATTEMPTS} attempts; the last one:\n{last}"
        )
    }

    /// One healthy 3-member cluster for the whole test process, started by the first call. For
    /// tests that need a working cluster but inject no faults: give each test its own key prefix
    /// ([`EtcdCluster::url`]). Its members die with the process, and its directory is removed
    /// by the next test process that starts a cluster.
    pub fn shared() -> &'static EtcdCluster {
        static SHARED: OnceLock<EtcdCluster> = OnceLock::new();
        SHARED.get_or_init(|| EtcdCluster::start(3))
    }

    fn try_start(count: usize, options: &ClusterOptions) -> Result<EtcdCluster, StartError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let base = stale_dir_base();
        fs::create_dir_all(&base)
            .unwrap_or_else(|e| panic!("create etcd test dir {}: {e}", base.display()));
        let pid = std::process::id();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{pid}-"))
            .tempdir_in(&base)
            .unwrap_or_else(|e| panic!("create etcd cluster dir in {}: {e}", base.display()));
        let ports = reserve_ports(2 * count);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let token = format!(
            "interlock-test-{pid}-{}-{nanos}",
            N.fetch_add(1, Ordering::Relaxed)
        );
        let members = (0..count)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                dir: dir.path().join(format!("m{i}")),
                id: String::new(),
                child: None,
                paused: false,
            })
            .collect();
        let mut http = ureq::Agent::config_builder();
        if let Some(tls) = &options.tls {
            let pem = fs::read(&tls.ca)
                .unwrap_or_else(|e| panic!("read the CA file {}: {e}", tls.ca.display()));
            let ca = ureq::tls::Certificate::from_pem(&pem)
                .unwrap_or_else(|e| panic!("CA file {} is not PEM: {e}", tls.ca.display()));
            http = http.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
                    .unversioned_rustls_crypto_provider(Arc::new(
                        rustls::crypto::ring::default_provider(),
                    ))
                    .build(),
            );
        }
        let http = http
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .proxy(None)
            .build()
            .new_agent();
        // From here on, dropping `cluster` (on any error) kills what was started and frees the
        // ports and the directory.
        let cluster = EtcdCluster {
            dir,
            ports,
            token,
            members: Mutex::new(members),
            http,
            options: options.clone(),
        };
        {
            let mut members = cluster.lock();
            for i in 0..count {
                fs::create_dir_all(&members[i].dir).unwrap_or_else(|e| {
                    panic!("create member dir {}: {e}", members[i].dir.display())
                });
                let child = cluster.spawn_member(&members, i, "new");
                members[i].child = Some(child);
            }
        }
        cluster.wait_until_ready()?;
        Ok(cluster)
    }

    fn wait_until_ready(&self) -> Result<(), StartError> {
        let started = Instant::now();
        let probe = json!({ "key": BASE64.encode("interlock-test-harness-probe") });
        loop {
            let mut exited = Vec::new();
            let mut targets = Vec::new();
            for (i, m) in self.lock().iter_mut().enumerate() {
                if m.is_running() {
                    targets.push(m.client_port);
                } else {
                    exited.push(i);
                }
            }
            if !exited.is_empty() {
                let tails = self.log_tails();
                let report = format!(
                    "etcd member(s) {exited:?} exited while the cluster was starting \
                     (etcd {}):\n{tails}",
                    etcd_version()
                );
                return Err(if tails.contains("address already in use") {
                    StartError::PortTaken(report)
                } else {
                    StartError::Failed(report)
                });
            }
            let statuses: Vec<Result<Value, String>> = targets
                .iter()
                .map(|&port| {
                    self.post_port(port, "/v3/maintenance/status", &json!({}), STATUS_TIMEOUT)
                })
                .collect();
            let leaders: Vec<Option<&str>> = statuses
                .iter()
                .map(|s| s.as_ref().ok().and_then(|s| nonzero(&s["leader"])))
                .collect();
            if leaders.iter().all(|l| l.is_some() && *l == leaders[0]) {
                let reads_ok = targets.iter().all(|&port| {
                    self.post_port(port, "/v3/kv/range", &probe, STATUS_TIMEOUT)
                        .is_ok()
                });
                if reads_ok {
                    let mut members = self.lock();
                    for (m, s) in members.iter_mut().zip(&statuses) {
                        let s = s.as_ref().expect("answered");
                        m.id = nonzero(&s["header"]["member_id"])
                            .expect("status names its member")
                            .to_owned();
                    }
                    return Ok(());
                }
            }
            if started.elapsed() > READY_DEADLINE {
                let answers: Vec<String> = statuses
                    .iter()
                    .enumerate()
                    .map(|(i, s)| match s {
                        Ok(s) => format!("  m{i}: leader {}", s["leader"]),
                        Err(e) => format!("  m{i}: {e}"),
                    })
                    .collect();
                return Err(StartError::Failed(format!(
                    "etcd cluster not ready after {READY_DEADLINE:?} (etcd {}); last status \
                     answers:\n{}\n{}",
                    etcd_version(),
                    answers.join("\n"),
                    self.log_tails()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Member>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn_member(&self, members: &[Member], i: usize, state: &str) -> Child {
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let m = &members[i];
        let client_url = format!("{}://127.0.0.1:{}", self.scheme(), m.client_port);
        let peer_url = format!("http://127.0.0.1:{}", m.peer_port);
        let mut args = vec![
            "--name".to_owned(),
            m.name.clone(),
            "--data-dir".to_owned(),
            m.data_dir().display().to_string(),
            "--listen-client-urls".to_owned(),
            client_url.clone(),
            "--advertise-client-urls".to_owned(),
            client_url,
            "--listen-peer-urls".to_owned(),
            peer_url.clone(),
            "--initial-advertise-peer-urls".to_owned(),
            peer_url,
            "--initial-cluster".to_owned(),
            initial_cluster,
            "--initial-cluster-state".to_owned(),
            state.to_owned(),
            "--initial-cluster-token".to_owned(),
            self.token.clone(),
            "--heartbeat-interval".to_owned(),
            HEARTBEAT_MS.to_string(),
            "--election-timeout".to_owned(),
            ELECTION_MS.to_string(),
            "--max-txn-ops".to_owned(),
            MAX_TXN_OPS.to_string(),
        ];
        if let Some(tls) = &self.options.tls {
            args.extend([
                "--cert-file".to_owned(),
                tls.cert.display().to_string(),
                "--key-file".to_owned(),
                tls.key.display().to_string(),
            ]);
        }
        args.extend(self.options.extra_args.iter().cloned());
        spawn_etcd(args, m.log_path()).unwrap_or_else(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                panic!("etcd is not on PATH: install it with scripts/setup-etcd.sh")
            }
            panic!("start etcd member {}: {e}", m.name)
        })
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cluster has no members (never true: [`EtcdCluster::start`] needs one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every member's client address, `127.0.0.1:PORT`, in member order.
    pub fn client_urls(&self) -> Vec<String> {
        self.lock()
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// Member `i`'s client address, `127.0.0.1:PORT`.
    pub fn client_url(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.lock()[i].client_port)
    }

    /// The interlock store URL for this cluster with every member as an endpoint and keys under
    /// `prefix`: `etcd://127.0.0.1:P1,127.0.0.1:P2,…?prefix=<prefix>`. The prefix is used as
    /// given, so keep it to URL-safe characters.
    ///
    /// With TLS ([`ClusterOptions::tls`]) it is `etcd+https://…?prefix=<prefix>&ca=<CA file>`.
    pub fn url(&self, prefix: &str) -> String {
        match &self.options.tls {
            None => format!("etcd://{}?prefix={prefix}", self.client_urls().join(",")),
            Some(tls) => format!(
                "etcd+https://{}?prefix={prefix}&ca={}",
                self.client_urls().join(","),
                tls.ca.display()
            ),
        }
    }

    /// `https` when the members serve clients over TLS, else `http`.
    fn scheme(&self) -> &'static str {
        if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The directory holding every member's directory; gone once the cluster is dropped.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Member `i`'s etcd data dir.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.lock()[i].data_dir()
    }

    /// Member `i`'s log file (its stdout and stderr, across restarts).
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.lock()[i].log_path()
    }

    /// Member `i`'s Raft id, as the gateway renders it (a decimal string).
    pub fn member_id(&self, i: usize) -> String {
        self.lock()[i].id.clone()
    }

    /// Process id of member `i`, while it has a process (running or paused).
    pub fn pid(&self, i: usize) -> Option<u32> {
        let mut members = self.lock();
        let m = &mut members[i];
        if m.is_running() {
            m.child.as_ref().map(Child::id)
        } else {
            None
        }
    }

    /// Whether member `i`'s process is alive; a paused member is alive.
    pub fn is_running(&self, i: usize) -> bool {
        self.lock()[i].is_running()
    }

    /// Whether member `i` is paused by [`EtcdCluster::pause`].
    pub fn is_paused(&self, i: usize) -> bool {
        let mut members = self.lock();
        members[i].paused && members[i].is_running()
    }

    /// The member that a majority of the cluster currently follows, asking every live member that
    /// is not paused; `None` while there is no such leader (an election is under way, or quorum
    /// is lost). A member that still names a leader that was killed or paused does not count.
    pub fn leader(&self) -> Option<usize> {
        let (quorum, live, ids) = {
            let mut members = self.lock();
            let quorum = members.len() / 2 + 1;
            let ids: Vec<String> = members.iter().map(|m| m.id.clone()).collect();
            let live: Vec<(usize, u16)> = members
                .iter_mut()
                .enumerate()
                .filter_map(|(i, m)| (m.is_running() && !m.paused).then_some((i, m.client_port)))
                .collect();
            (quorum, live, ids)
        };
        let mut votes: HashMap<String, usize> = HashMap::new();
        for &(_, port) in &live {
            let status = self.post_port(port, "/v3/maintenance/status", &json!({}), STATUS_TIMEOUT);
            if let Some(leader) = status.ok().as_ref().and_then(|s| nonzero(&s["leader"])) {
                *votes.entry(leader.to_owned()).or_default() += 1;
            }
        }
        let (leader, _) = votes.into_iter().find(|(_, n)| *n >= quorum)?;
        live.iter().map(|&(i, _)| i).find(|&i| ids[i] == leader)
    }

    /// Waits until [`EtcdCluster::leader`] names a member and returns it; panics with the members'
    /// logs after `timeout`.
    pub fn wait_for_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.leader() {
                return i;
            }
            if Instant::now() >= deadline {
                panic!(
                    "etcd cluster has no leader after {timeout:?}\n{}",
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills member `i` with SIGKILL (a crash: nothing is flushed) and reaps it. Does nothing if
    /// it is not running.
    pub fn kill(&self, i: usize) {
        let mut members = self.lock();
        let m = &mut members[i];
        if let Some(mut child) = m.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        m.paused = false;
    }

    /// Stops member `i` with SIGSTOP: its process stays, but it neither answers nor sends
    /// heartbeats until [`EtcdCluster::resume`]. Returns once every thread of it has stopped
    /// (the signal alone takes effect asynchronously).
    pub fn pause(&self, i: usize) {
        let mut members = self.lock();
        let m = &mut members[i];
        assert!(m.is_running(), "pause: member {i} is not running");
        signal(m, Signal::SIGSTOP);
        m.paused = true;
        let pid = m
            .child
            .as_ref()
            .map(Child::id)
            .expect("running member has a process");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(
                Instant::now() < deadline,
                "etcd member {i} (pid {pid}) did not stop within 5 s of SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Continues member `i` after [`EtcdCluster::pause`] (SIGCONT).
    pub fn resume(&self, i: usize) {
        let mut members = self.lock();
        let m = &mut members[i];
        assert!(m.is_running(), "resume: member {i} is not running");
        signal(m, Signal::SIGCONT);
        m.paused = false;
    }

    /// Starts member `i` again on its ports and data dir (killing it first if it still runs),
    /// and waits until it answers and follows a leader, so that a linearizable read through it
    /// sees every write the cluster made while it was down. Panics with its log after 30 s.
    pub fn restart(&self, i: usize) {
        self.kill(i);
        let port = {
            let mut members = self.lock();
            let child = self.spawn_member(&members, i, "existing");
            members[i].child = Some(child);
            members[i].client_port
        };
        let started = Instant::now();
        loop {
            if !self.is_running(i) {
                panic!(
                    "etcd member {i} exited after a restart:\n{}",
                    self.log_tails()
                );
            }
            let status = self.post_port(port, "/v3/maintenance/status", &json!({}), STATUS_TIMEOUT);
            if status.is_ok_and(|s| nonzero(&s["leader"]).is_some()) {
                return;
            }
            if started.elapsed() > READY_DEADLINE {
                panic!(
                    "etcd member {i} does not follow a leader {READY_DEADLINE:?} after a \
                     restart:\n{}",
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// POSTs `body` as JSON to member `i`'s gateway at `path` (such as `/v3/kv/range`) and returns
    /// the JSON reply; an HTTP error status, a timeout (5 s) or a connection failure is an `Err`
    /// describing it, with the reply body if there was one.
    pub fn post(&self, i: usize, path: &str, body: &Value) -> Result<Value, String> {
        let port = self.lock()[i].client_port;
        self.post_port(port, path, body, REQUEST_TIMEOUT)
    }

    /// [`EtcdCluster::post`] with `token` (from `/v3/auth/authenticate`) in the `Authorization`
    /// header, for a cluster with authentication enabled.
    pub fn post_with_token(
        &self,
        i: usize,
        path: &str,
        body: &Value,
        token: &str,
    ) -> Result<Value, String> {
        let port = self.lock()[i].client_port;
        self.send(port, path, body, REQUEST_TIMEOUT, Some(token))
    }

    /// Member `i`'s `/v3/maintenance/status` reply (its id, the leader it follows, its Raft term
    /// and index), waiting at most 500 ms: a paused or dead member is an `Err` quickly.
    pub fn status(&self, i: usize) -> Result<Value, String> {
        let port = self.lock()[i].client_port;
        self.post_port(port, "/v3/maintenance/status", &json!({}), STATUS_TIMEOUT)
    }

    /// Puts `key` = `value` through member `i`'s gateway.
    pub fn put(&self, i: usize, key: &str, value: &str) -> Result<(), String> {
        let body = json!({ "key": BASE64.encode(key), "value": BASE64.encode(value) });
        self.post(i, "/v3/kv/put", &body).map(drop)
    }

    /// Reads `key` through member `i`'s gateway (a linearizable read); `None` if it is absent.
    pub fn get(&self, i: usize, key: &str) -> Result<Option<String>, String> {
        let reply = self.post(i, "/v3/kv/range", &json!({ "key": BASE64.encode(key) }))?;
        let Some(kv) = reply["kvs"].get(0) else {
            return Ok(None);
        };
        // A value that is empty is left out of the reply.
        let value = kv["value"].as_str().unwrap_or("");
        let bytes = BASE64
            .decode(value)
            .map_err(|e| format!("value of {key} is not base64: {e}"))?;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| format!("value of {key} is not UTF-8: {e}"))
    }

    fn post_port(
        &self,
        port: u16,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        self.send(port, path, body, timeout, None)
    }

    fn send(
        &self,
        port: u16,
        path: &str,
        body: &Value,
        timeout: Duration,
        token: Option<&str>,
    ) -> Result<Value, String> {
        let url = format!("{}://127.0.0.1:{port}{path}", self.scheme());
        let mut request = self.http.post(&url);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let mut reply = request
            .config()
            .timeout_global(Some(timeout))
            .build()
            .send_json(body)
            .map_err(|e| format!("POST {url}: {e}"))?;
        let status = reply.status();
        let text = reply
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("POST {url}: reading the reply: {e}"))?;
        if !status.is_success() {
            return Err(format!("POST {url}: HTTP {status}: {text}"));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("POST {url}: reply is not JSON ({e}): {text}"))
    }

    /// The last lines of every member's log, for failure messages.
    pub fn log_tails(&self) -> String {
        let paths: Vec<(String, PathBuf)> = self
            .lock()
            .iter()
            .map(|m| (m.name.clone(), m.log_path()))
            .collect();
        let mut out = String::new();
        for (name, path) in paths {
            let text = fs::read(&path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_else(|e| format!("(no log: {e})"));
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            out.push_str(&format!(
                "--- member {name}, last {} lines of {} ---\n{}\n",
                tail.len(),
                path.display(),
                tail.join("\n")
            ));
        }
        out
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        let members = self
            .members
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for m in members.iter_mut() {
            if let Some(mut child) = m.child.take() {
                if m.paused {
                    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let mut reserved = RESERVED_PORTS
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for port in &self.ports {
            reserved.remove(port);
        }
        // `dir` is removed when the fields drop, after every member is gone.
    }
}

fn signal(m: &Member, sig: Signal) {
    let child = m.child.as_ref().expect("running member has a process");
    kill(Pid::from_raw(child.id() as i32), sig)
        .unwrap_or_else(|e| panic!("send {sig} to etcd member {}: {e}", m.name));
}

/// Whether every thread of process `pid` is in the stopped state (`T` in `/proc`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // The state follows the command name, which is in parentheses and may hold anything.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                == Some("T")
        })
    })
}

/// A 64-bit id field of a gateway reply, if present and not zero (zero values are left out).
fn nonzero(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty() && *s != "0")
}

fn etcd_version() -> String {
    Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "version unknown".to_owned())
}

/// Where every cluster's directory goes: `<temp dir>/interlock-etcd/<pid>-<random>/`.
fn stale_dir_base() -> PathBuf {
    std::env::temp_dir().join("interlock-etcd")
}

/// Removes the cluster directories of test processes that no longer run (a cluster's directory
/// name starts with the id of the process that started it). [`EtcdCluster::start`] calls it.
pub fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(stale_dir_base()) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != me && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Ports held by the clusters of this process, so that two clusters never pick the same one
/// (a killed member's ports are free at the OS level until it restarts).
static RESERVED_PORTS: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Picks `count` free loopback ports and reserves them for this process.
///
/// Ports come from below the kernel's ephemeral range when it leaves enough room, rather than
/// from binding port 0: ephemeral ports are also handed out as the local ports of outgoing
/// connections (every client request, every peer dial), and one of those landing on a killed
/// member's port would keep that member from restarting. A port counts as free when it is not
/// reserved and binding it succeeds; if another process takes one before etcd binds it, the
/// member exits and [`EtcdCluster::start`] tries again on other ports.
fn reserve_ports(count: usize) -> Vec<u16> {
    let mut reserved = RESERVED_PORTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let range = 15000..ephemeral_low;
    let mut ports = Vec::with_capacity(count);
    let mut tries = 0;
    while ports.len() < count {
        tries += 1;
        let port = if range.len() >= 1000 && tries <= 10_000 {
            fastrand::u16(range.clone())
        } else {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
        };
        if reserved.contains(&port) || ports.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    reserved.extend(&ports);
    ports
}

struct SpawnRequest {
    command: Command,
    reply: mpsc::Sender<io::Result<Child>>,
}

/// Starts `etcd` with `args`, its output appended to `log`, with [`spawn_dying_with_process`].
fn spawn_etcd(args: Vec<String>, log: PathBuf) -> io::Result<Child> {
    let out = OpenOptions::new().create(true).append(true).open(log)?;
    let mut command = Command::new("etcd");
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    spawn_dying_with_process(command)
}

/// Spawns `command` from a process-wide spawner thread, with a parent-death signal: the child
/// gets SIGKILL when the thread that forked it exits, and that thread lives as long as the
/// process, so the child dies with the test process (even a SIGKILLed one) and not before.
pub fn spawn_dying_with_process(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("child-spawner".to_owned())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with the process.
                for request in incoming {
                    let _ = request.reply.send(spawn_here(request.command));
                }
            })
            .expect("start the child spawner thread");
        Mutex::new(requests)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(SpawnRequest { command, reply })
        .expect("the child spawner thread is running");
    answer.recv().expect("the child spawner thread answers")
}

fn spawn_here(mut command: Command) -> io::Result<Child> {
    let parent = getpid();
    // SAFETY: between fork and exec the closure makes only the prctl and getppid system calls
    // and builds errors from raw codes, which allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
            // The parent may have died before the signal was armed.
            if getppid() != parent {
                return Err(io::Error::from(Errno::ESRCH));
            }
            Ok(())
        });
    }
    command.spawn()
}
