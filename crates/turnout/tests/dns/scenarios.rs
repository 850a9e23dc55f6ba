//! Data-driven DNS scenarios: each `.scn` file under `scenarios/` lists queries and the whole
//! response each must get, checked over UDP and over TCP against the real binary.
//!
//! Format, one block per case:
//!
//! ```text
//! ### title
//! query NAME TYPE [edns=SIZE] [do] [version=N] [rd] [cd] [class=N] [opcode=N]
//! raw HEX...                      (instead of `query`: exact packet bytes)
//! transport udp|tcp               (optional: only this transport)
//! rcode NOERROR                   (then the response, as `turnout_testkit::render` prints it,
//! flags qr aa                      or the single word `noreply`)
//! ...
//! ```

use std::fs;
use std::time::Duration;

use turnout_testkit::process::Turnout;
use turnout_testkit::{QueryBuilder, render};

#[derive(Debug)]
struct Case {
    file: String,
    line: usize,
    title: String,
    packet: Vec<u8>,
    udp: bool,
    tcp: bool,
    expect: Vec<String>,
}

fn hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .unwrap_or_else(|_| panic!("bad hex {digits:?}"))
        })
        .collect()
}

fn query(words: &[&str]) -> Vec<u8> {
    let [name, qtype, opts @ ..] = words else { panic!("query needs NAME TYPE: {words:?}") };
    let mut q = QueryBuilder::new(name, qtype);
    for o in opts {
        match o.split_once('=') {
            Some(("edns", v)) => q.edns = Some((v.parse().expect("edns size"), 0, false)),
            Some(("version", v)) => {
                let e = q.edns.get_or_insert((1232, 0, false));
                e.1 = v.parse().expect("version");
            }
            Some(("class", v)) => q.qclass = v.parse().expect("class"),
            Some(("opcode", v)) => q.opcode = v.parse().expect("opcode"),
            Some(("id", v)) => q.id = v.parse().expect("id"),
            None if *o == "do" => q.edns.get_or_insert((1232, 0, true)).2 = true,
            None if *o == "rd" => q.rd = true,
            None if *o == "cd" => q.cd = true,
            _ => panic!("unknown query option {o}"),
        }
    }
    q.build()
}

fn parse(file: &str, text: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(title) = line.strip_prefix("###") {
            cases.push(Case {
                file: file.to_owned(),
                line: i + 1,
                title: title.trim().to_owned(),
                packet: Vec::new(),
                udp: true,
                tcp: true,
                expect: Vec::new(),
            });
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let case = cases
            .last_mut()
            .unwrap_or_else(|| panic!("{file}:{}: text before the first ###", i + 1));
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[0] {
            "query" => case.packet = query(&words[1..]),
            "raw" => case.packet = hex(&line[3..]),
            "transport" => {
                case.udp = words.get(1) == Some(&"udp");
                case.tcp = words.get(1) == Some(&"tcp");
            }
            _ => case.expect.push(line.to_owned()),
        }
    }
    cases
}

fn outcome(reply: Option<Vec<u8>>) -> Vec<String> {
    match reply {
        None => vec!["noreply".to_owned()],
        Some(r) => match render(&r) {
            Ok(t) => t.lines().map(str::to_owned).collect(),
            Err(e) => vec![format!("UNDECODABLE: {e}: {r:02x?}")],
        },
    }
}

fn run_case(t: &Turnout, c: &Case) -> Vec<String> {
    let mut failures = Vec::new();
    let mut check = |transport: &str, got: Vec<String>| {
        if got != c.expect {
            failures.push(format!(
                "{}:{} [{transport}] {}\n  expected:\n    {}\n  got:\n    {}",
                c.file,
                c.line,
                c.title,
                c.expect.join("\n    "),
                got.join("\n    ")
            ));
        }
    };
    if c.udp {
        // Loopback replies take microseconds; half a second is ample to conclude "no reply".
        let wait = if c.expect == ["noreply"] {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(2)
        };
        check("udp", outcome(t.udp_wait(&c.packet, wait)));
    }
    if c.tcp {
        let got = match t.tcp(std::slice::from_ref(&c.packet), 1) {
            Ok(mut r) => outcome(r.pop()),
            Err(e) => vec![format!("TCP error: {e}")],
        };
        check("tcp", got);
    }
    failures
}

#[test]
fn every_scenario_gets_exactly_its_response() {
    let dir = super::suite_file("scenarios");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("scenario dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "scn")) {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        cases.extend(parse(&name, &fs::read_to_string(f).expect("readable")));
    }
    assert!(cases.len() >= 40, "the suite must keep at least 40 query cases, has {}", cases.len());
    for c in &cases {
        assert!(
            !c.packet.is_empty() && !c.expect.is_empty(),
            "{}:{} {} is incomplete",
            c.file,
            c.line,
            c.title
        );
    }
    let t = super::start_with_suite_zones(&[]);
    let failures: Vec<String> = cases.iter().flat_map(|c| run_case(&t, c)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
