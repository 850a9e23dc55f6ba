//! Resource record types: the 16-bit code, its mnemonic, and which types a zone may hold.

use std::fmt;

/// A resource record type code (RFC 1035 §3.2.2 and the IANA registry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RType(pub u16);

macro_rules! rtypes {
    ($($name:ident = $code:expr),* $(,)?) => {
        impl RType {
            $(
                #[doc = concat!("The `", stringify!($name), "` type.")]
                pub const $name: RType = RType($code);
            )*
            /// The mnemonic of a known type.
            pub fn mnemonic(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some(stringify!($name)),)*
                    _ => None,
                }
            }
            fn from_known_mnemonic(upper: &str) -> Option<RType> {
                match upper {
                    $(stringify!($name) => Some(RType($code)),)*
                    _ => None,
                }
            }
        }
    };
}

rtypes! {
    A = 1, NS = 2, CNAME = 5, SOA = 6, NULL = 10, PTR = 12, HINFO = 13, MX = 15, TXT = 16, AAAA = 28,
    SRV = 33, NAPTR = 35, DNAME = 39, OPT = 41, DS = 43, SSHFP = 44, RRSIG = 46, NSEC = 47,
    DNSKEY = 48, NSEC3 = 50, NSEC3PARAM = 51, TLSA = 52, CDS = 59, CDNSKEY = 60, SVCB = 64,
    HTTPS = 65, SPF = 99, TKEY = 249, TSIG = 250, IXFR = 251, AXFR = 252, MAILB = 253,
    MAILA = 254, ANY = 255, CAA = 257,
}

impl RType {
    /// Parses a mnemonic (`A`, `aaaa`) or the RFC 3597 generic form `TYPE123`.
    pub fn from_mnemonic(text: &str) -> Option<RType> {
        let upper = text.to_ascii_uppercase();
        if let Some(t) = Self::from_known_mnemonic(&upper) {
            return Some(t);
        }
        let digits = upper.strip_prefix("TYPE")?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u16>().ok().map(RType)
    }

    /// Why this type cannot be stored in a zone, if it cannot.
    ///
    /// Meta and query-only types never can (RFC 6895 §3.1); DNSSEC records that the server would
    /// have to generate or process (RRSIG, NSEC, NSEC3, NSEC3PARAM) are refused until Turnout
    /// signs zones itself; DNAME is refused because Turnout does not perform DNAME substitution,
    /// and serving it without substitution would give wrong answers.
    pub fn storage_error(self) -> Option<&'static str> {
        match self {
            RType(0) => Some("type 0 is reserved"),
            RType::OPT | RType::TKEY | RType::TSIG => {
                Some("is a meta type and cannot be stored in a zone")
            }
            RType::IXFR | RType::AXFR | RType::MAILA | RType::MAILB | RType::ANY => {
                Some("is a query type and cannot be stored in a zone")
            }
            RType(128..=255) => {
                Some("is in the meta/query type range and cannot be stored in a zone")
            }
            RType::RRSIG | RType::NSEC | RType::NSEC3 | RType::NSEC3PARAM => Some(
                "is pre-signed DNSSEC data, which Turnout does not serve (it serves zones unsigned)",
            ),
            RType::DNAME => Some("is not supported (Turnout does not perform DNAME substitution)"),
            _ => None,
        }
    }
}

impl fmt::Display for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mnemonic() {
            Some(m) => f.write_str(m),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

impl fmt::Debug for RType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_round_trip() {
        assert_eq!(RType::from_mnemonic("aaaa"), Some(RType::AAAA));
        assert_eq!(RType::from_mnemonic("TYPE65534"), Some(RType(65534)));
        assert_eq!(RType::from_mnemonic("type1"), Some(RType::A));
        assert_eq!(RType::from_mnemonic("TYPE65536"), None);
        assert_eq!(RType::from_mnemonic("TYPE"), None);
        assert_eq!(RType::from_mnemonic("BOGUS"), None);
        assert_eq!(RType(65534).to_string(), "TYPE65534");
        assert_eq!(RType::HTTPS.to_string(), "HTTPS");
    }

    #[test]
    fn storage_rules() {
        assert!(RType::A.storage_error().is_none());
        assert!(RType(65280).storage_error().is_none());
        assert!(RType::OPT.storage_error().is_some());
        assert!(RType::ANY.storage_error().is_some());
        assert!(RType(200).storage_error().is_some());
        assert!(RType::RRSIG.storage_error().is_some());
        assert!(RType::DNAME.storage_error().is_some());
    }
}
