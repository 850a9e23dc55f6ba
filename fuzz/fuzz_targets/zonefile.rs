//! Any text as a zone file: parsing must never panic, and a zone that parses must print as a
//! master file that parses back to the same zone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnout_model::zonefile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(zone) = zonefile::parse_str(text, "fuzz", None) {
        let printed = zone.to_string();
        let again = zonefile::parse_str(&printed, "printed", None).expect("printed zone parses");
        assert_eq!(zone, again, "round trip changed the zone:\n{printed}");
    }
});
