//! dnstap and the query log through the real binary: a file read back by BIND's `dnstap-read`,
//! a socket collector (`fstrm_capture`, from Debian's fstrm-bin) that comes late and gets every
//! message from then on, and JSON lines that parse.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use turnout_testkit::QueryBuilder;
use turnout_testkit::process::{DEADLINE, Turnout, poll, sample};

use super::{bin, suite_file};

fn start(dir: &Path, config: &str) -> Turnout {
    let file = dir.join("turnout.toml");
    std::fs::write(&file, format!("version = 1\n{config}")).expect("writes");
    let zone = suite_file("zones/example.test.zone");
    let (file, zone) = (file.to_string_lossy().into_owned(), zone.to_string_lossy().into_owned());
    Turnout::start(
        bin(),
        &[
            "serve",
            "--dns",
            "127.0.0.1:0",
            "--udp-workers",
            "2",
            "--config",
            &file,
            "--zone-file",
            &zone,
        ],
    )
}

/// `dnstap-read FILE`: one line per message, like
/// `... AQ 127.0.0.1:5 -> 127.0.0.1:53 UDP 57b www.example.test/IN/A`.
fn dnstap_read(file: &Path) -> Vec<(String, String, String)> {
    let out = Command::new("dnstap-read").arg(file).output().expect("dnstap-read (bind9-dnsutils)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[2].to_owned(), f[6].to_owned(), f[8].to_owned())
        })
        .collect()
}

/// The queries sent: (transport, name, type).
const SENT: [(&str, &str, &str); 4] = [
    ("UDP", "www.example.test", "A"),
    ("TCP", "mail.example.test", "MX"),
    ("UDP", "nothing.example.test", "AAAA"),
    ("UDP", "www.example.org", "A"),
];

fn send(t: &Turnout) {
    for (transport, name, qtype) in SENT {
        let q = QueryBuilder::new(name, qtype).build();
        match transport {
            "UDP" => assert!(t.udp(&q).is_some()),
            _ => assert_eq!(t.tcp(&[q], 1).expect("TCP").len(), 1),
        }
    }
}

fn expected() -> Vec<(String, String, String)> {
    SENT.iter()
        .flat_map(|(transport, name, qtype)| {
            ["AQ", "AR"]
                .map(|k| (k.to_owned(), (*transport).to_owned(), format!("{name}/IN/{qtype}")))
        })
        .collect()
}

#[test]
fn dnstap_to_a_file_and_the_query_log_hold_every_query_and_reply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut t = start(
        dir.path(),
        "[dns.dnstap]\nfile = \"tap.fstrm\"\n[dns.query_log]\nfile = \"queries.jsonl\"\n",
    );
    send(&t);
    t.signal("TERM");
    assert_eq!(t.wait_exit(DEADLINE).and_then(|s| s.code()), Some(0), "{}", t.log_text());
    // One AUTH_QUERY and one AUTH_RESPONSE per query, in order, with its name and type.
    assert_eq!(dnstap_read(&dir.path().join("tap.fstrm")), expected());
    let log = std::fs::read_to_string(dir.path().join("queries.jsonl")).expect("the query log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let got: Vec<(String, String, String, String)> = lines
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (s("transport"), s("qname"), s("qtype"), s("rcode"))
        })
        .collect();
    let want: Vec<(String, String, String, String)> = SENT
        .iter()
        .zip(["NOERROR", "NOERROR", "NXDOMAIN", "REFUSED"])
        .map(|((tr, n, q), r)| (tr.to_lowercase(), format!("{n}."), (*q).to_owned(), r.to_owned()))
        .collect();
    assert_eq!(got, want, "{log}");
    assert!(
        lines.iter().all(|l| l["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.1:")))
    );
}

struct Collector(Child);

impl Drop for Collector {
    /// SIGINT: it writes out what it holds and exits (SIGKILL only if it does not).
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.0.id().to_string()]).status();
        let exited = poll(DEADLINE, || self.0.try_wait().ok().flatten());
        if exited.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_socket_collector_that_comes_late_gets_every_message_from_then_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("dnstap.sock");
    let t = start(dir.path(), "[dns.dnstap]\nsocket = \"dnstap.sock\"\nqueue = 100\n");
    // No collector yet: messages are dropped and counted, queries answered all the same.
    send(&t);
    let dropped = r#"turnout_dns_tap_messages_total{output="dnstap",result="dropped"}"#;
    let seen = poll(DEADLINE, || sample(&t.scrape(), dropped).filter(|n| *n >= 8.0));
    assert!(seen.is_some(), "{}", t.scrape());
    let capture = dir.path().join("capture.fstrm");
    let collector = Collector(
        Command::new("fstrm_capture")
            .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
            .arg(&socket)
            .arg("-w")
            .arg(&capture)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fstrm_capture (fstrm-bin)"),
    );
    // The writer connects within a second of the collector listening; until then, queries
    // keep being answered (and their messages dropped).
    let written = r#"turnout_dns_tap_messages_total{output="dnstap",result="written"}"#;
    let connected = poll(Duration::from_secs(10), || {
        send(&t);
        std::thread::sleep(Duration::from_millis(100));
        sample(&t.scrape(), written).filter(|n| *n > 0.0)
    });
    assert!(connected.is_some(), "{}", t.log_text());
    // The writer may still be writing the last queries' messages: count on from once the
    // counter has settled.
    let mut before = sample(&t.scrape(), written).unwrap_or(0.0);
    let settled = poll(DEADLINE, || {
        std::thread::sleep(Duration::from_millis(200));
        let now = sample(&t.scrape(), written).unwrap_or(0.0);
        let same = now == before;
        before = now;
        same.then_some(())
    });
    assert!(settled.is_some(), "{}", t.scrape());
    for _ in 0..5 {
        send(&t);
    }
    let all = poll(DEADLINE, || sample(&t.scrape(), written).filter(|n| *n >= before + 40.0));
    assert_eq!(all, Some(before + 40.0), "{}", t.scrape());
    // Stopping turnout ends the stream (STOP, FINISH); the collector then has every message.
    let mut t = t;
    t.signal("TERM");
    assert_eq!(t.wait_exit(DEADLINE).and_then(|s| s.code()), Some(0), "{}", t.log_text());
    drop(collector);
    let got = dnstap_read(&capture);
    assert_eq!(got.len() as f64, before + 40.0);
    assert_eq!(got[got.len() - 8..], expected()[..]);
}
