//! The DNS wire format on the query path: decoding queries ([`query`]) and writing responses
//! with name compression ([`writer`]). Hand-written, because this is the measured hot path: no
//! allocation, no copies beyond the bytes that go out.

pub mod message;
pub mod query;
pub mod writer;

/// The longest name in wire format.
pub const MAX_NAME_LEN: usize = 255;

/// Response codes, including EDNS extended ones (RFC 6891 §6.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rcode(pub u16);

impl Rcode {
    /// No error.
    pub const NOERROR: Rcode = Rcode(0);
    /// Format error.
    pub const FORMERR: Rcode = Rcode(1);
    /// Server failure.
    pub const SERVFAIL: Rcode = Rcode(2);
    /// Name does not exist.
    pub const NXDOMAIN: Rcode = Rcode(3);
    /// Not implemented.
    pub const NOTIMP: Rcode = Rcode(4);
    /// Refused.
    pub const REFUSED: Rcode = Rcode(5);
    /// Not authorized (RFC 8945: unknown TSIG key).
    pub const NOTAUTH: Rcode = Rcode(9);
    /// Bad EDNS version (extended).
    pub const BADVERS: Rcode = Rcode(16);
    /// A prerequisite name exists that should not (RFC 2136 §2.2).
    pub const YXDOMAIN: Rcode = Rcode(6);
    /// A prerequisite RRset exists that should not (RFC 2136 §2.2).
    pub const YXRRSET: Rcode = Rcode(7);
    /// A prerequisite RRset does not exist that should (RFC 2136 §2.2).
    pub const NXRRSET: Rcode = Rcode(8);
    /// A name in an update is outside the zone (RFC 2136 §2.2).
    pub const NOTZONE: Rcode = Rcode(10);

    /// The name dig and the RFCs use.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            6 => "YXDOMAIN",
            7 => "YXRRSET",
            8 => "NXRRSET",
            9 => "NOTAUTH",
            10 => "NOTZONE",
            16 => "BADVERS",
            _ => "OTHER",
        }
    }
}

/// Opcodes (RFC 6895 §2.2).
pub mod opcode {
    /// A standard query.
    pub const QUERY: u8 = 0;
}

/// The Internet class.
pub const CLASS_IN: u16 = 1;
/// The CHAOS class (RFC 1035 §3.2.4), where servers tell their identity (RFC 4892).
pub const CLASS_CH: u16 = 3;
