//! A real etcd cluster on loopback for tests (Debian's `etcd-server`): N members, each on its
//! own free client and peer ports, in a temporary directory; members can be killed and
//! restarted. Dropping it stops every member.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Member {
    name: String,
    client: SocketAddr,
    peer: SocketAddr,
    child: Option<Child>,
}

/// An etcd cluster for one test.
pub struct Etcd {
    members: Vec<Member>,
    dir: tempfile::TempDir,
    initial_cluster: String,
    /// How many times each member was started (its log is appended to).
    starts: Vec<usize>,
    /// With TLS: the CA that signed the members' and clients' certificates.
    tls: Option<crate::tls::TestCa>,
}

/// The files a client of a TLS cluster needs.
#[derive(Debug, Clone)]
pub struct EtcdClientFiles {
    /// The CA the members' certificates are signed by.
    pub ca: PathBuf,
    /// A client certificate signed by it.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// A port for an etcd member. etcd must be told every member's peer address before any member
/// starts (`--initial-cluster`), so these cannot come from a member's own log as Turnout's
/// ports do; a port taken in between makes that member fail to start, and the test with it.
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr().unwrap_or_else(|e| panic!("local_addr: {e}"))
}

impl Etcd {
    /// Starts an `n`-member cluster and waits until every member takes client connections.
    /// Panics (failing the test) when the `etcd` binary is missing: `scripts/test` installs it.
    pub fn start(n: usize) -> Etcd {
        Self::start_with(n, false)
    }

    /// [`Etcd::start`], with clients served over TLS only and asked for a certificate signed
    /// by the cluster's CA (`--client-cert-auth`); see [`Etcd::client_files`].
    pub fn start_tls(n: usize) -> Etcd {
        Self::start_with(n, true)
    }

    fn start_with(n: usize, tls: bool) -> Etcd {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client: free_port(),
                peer: free_port(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let starts = vec![0; n];
        let tls = tls.then(|| {
            let ca = crate::tls::TestCa::new("etcd test CA");
            ca.write(dir.path(), "ca");
            ca.server("etcd").write(dir.path(), "member");
            ca
        });
        let mut etcd = Etcd { members, dir, initial_cluster, starts, tls };
        for i in 0..n {
            etcd.spawn(i);
        }
        for i in 0..n {
            etcd.wait_up(i);
        }
        etcd
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    fn spawn(&mut self, i: usize) {
        let data = self.data_dir(i);
        let m = &self.members[i];
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let client = format!("{scheme}://{}", m.client);
        let peer = format!("http://{}", m.peer);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{}.log", m.name)))
            .unwrap_or_else(|e| panic!("etcd log: {e}"));
        let mut command = Command::new("etcd");
        if self.tls.is_some() {
            let file = |f: &str| self.dir.path().join(f).display().to_string();
            command
                .args(["--cert-file", &file("member.crt"), "--key-file", &file("member.key")])
                .args(["--trusted-ca-file", &file("ca.pem"), "--client-cert-auth"]);
        }
        let child = command
            .args(["--name", &m.name])
            .args(["--data-dir", &data.display().to_string()])
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new", "--initial-cluster-token", "turnout-test"])
            // Turnout's change batches write up to a few thousand keys in one transaction.
            .args(["--max-txn-ops", "10000", "--max-request-bytes", "8388608"])
            // etcd's defaults: tighter timings make a loaded CI machine re-elect all the time.
            .args(["--heartbeat-interval", "100", "--election-timeout", "1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start etcd ({e}): install Debian's etcd-server (scripts/test does)")
            });
        self.members[i].child = Some(child);
        self.starts[i] += 1;
    }

    /// Waits until member `i` listens and says it serves clients (its log line; a member that
    /// listens but has not joined the cluster yet would hold requests).
    fn wait_up(&self, i: usize) {
        let log = self.dir.path().join(format!("{}.log", self.members[i].name));
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = std::fs::read_to_string(&log).is_ok_and(|l| {
                l.matches("ready to serve client requests").count() >= self.starts[i]
            });
            if ready && TcpStream::connect(self.members[i].client).is_ok() {
                return;
            }
            if Instant::now() >= end {
                // Its log says why (a port taken since it was chosen, a slow disk...).
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "etcd member {i} did not come up within 20 s; its log ends:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// For a TLS cluster: the CA file and a new client certificate named `name`, signed by the
    /// cluster's CA when `trusted`, by a stranger's otherwise.
    pub fn client_files(&self, name: &str, trusted: bool) -> EtcdClientFiles {
        let ca = self.tls.as_ref().unwrap_or_else(|| panic!("not a TLS cluster"));
        let issued = if trusted {
            ca.client(name)
        } else {
            crate::tls::TestCa::new("a stranger").client(name)
        };
        let (cert, key) = issued.write(self.dir.path(), name);
        EtcdClientFiles { ca: self.dir.path().join("ca.pem"), cert, key }
    }

    /// The store URL for Turnout: `etcd://` and every member's client address.
    pub fn url(&self) -> String {
        let list: Vec<String> = self.members.iter().map(|m| m.client.to_string()).collect();
        format!("etcd://{}", list.join(","))
    }

    /// Kills member `i` without warning.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts every stopped member at once (a member alone cannot become ready without a
    /// quorum) and waits until they all serve.
    pub fn restart_stopped(&mut self) {
        let stopped: Vec<usize> =
            (0..self.members.len()).filter(|&i| self.members[i].child.is_none()).collect();
        for &i in &stopped {
            self.spawn(i);
        }
        for &i in &stopped {
            self.wait_up(i);
        }
    }

    /// Compacts the store's history up to its current revision (through etcd's JSON gateway,
    /// on a running member of a plain-text cluster): a watch from before it then fails.
    pub fn compact(&self) {
        assert!(self.tls.is_none(), "compact() speaks plain HTTP");
        let member = self.members.iter().find(|m| m.child.is_some()).expect("a running member");
        let post = |path: &str, body: &str| {
            let out = std::process::Command::new("curl")
                .args(["-sS", "--fail", "-X", "POST", "-d", body])
                .arg(format!("http://{}{path}", member.client))
                .output()
                .expect("curl");
            assert!(out.status.success(), "{path}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        // Any read's header carries the current revision ("revision":"N").
        let read = post("/v3/kv/range", r#"{"key":"AA=="}"#);
        let revision: u64 = read
            .split("\"revision\":\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no revision in {read}"));
        post("/v3/kv/compaction", &format!(r#"{{"revision":"{revision}","physical":true}}"#));
    }

    /// Restarts member `i` on its data and ports.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_up(i);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
