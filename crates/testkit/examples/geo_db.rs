//! Writes a small MaxMind-format geolocation database for benchmarks and demos:
//! 192.0.2.0/24 California, 198.51.100.0/24 France, 203.0.113.0/24 Japan (with coordinates).
//!
//!     cargo run -p turnout-testkit --example geo_db -- OUT.mmdb
#![allow(clippy::unwrap_used, clippy::print_stderr)] // A tool: panics and prints are its interface.

fn main() {
    let out = std::env::args().nth(1).expect("usage: geo_db OUT.mmdb");
    let db = turnout_testkit::geo_database(&[
        ("192.0.2.0/24", "NA", "US", "CA", Some((37.77, -122.42))),
        ("198.51.100.0/24", "EU", "FR", "", Some((48.86, 2.35))),
        ("203.0.113.0/24", "AS", "JP", "", Some((35.68, 139.69))),
    ]);
    std::fs::write(&out, db).unwrap();
    eprintln!("wrote {out}");
}
