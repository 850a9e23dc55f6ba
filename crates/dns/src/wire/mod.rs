//! The DNS wire format on the query path: decoding queries ([`query`]) and writing responses
//! with name compression ([`writer`]). Hand-written, because this is the measured hot path: no
//! allocation, no copies beyond the bytes that go out.

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

    /// The name dig and the RFCs use.
    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "NOERROR",
            1 => "FORMERR",
            2 => "SERVFAIL",
            3 => "NXDOMAIN",
            4 => "NOTIMP",
            5 => "REFUSED",
            9 => "NOTAUTH",
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

/// Type codes the query path treats specially.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Mail exchange.
    pub const MX: u16 = 15;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Service location.
    pub const SRV: u16 = 33;
    /// EDNS pseudo-record.
    pub const OPT: u16 = 41;
    /// Delegation signer.
    pub const DS: u16 = 43;
    /// Transaction key.
    pub const TKEY: u16 = 249;
    /// Transaction signature.
    pub const TSIG: u16 = 250;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Full zone transfer.
    pub const AXFR: u16 = 252;
    /// Obsolete mailbox query.
    pub const MAILB: u16 = 253;
    /// Obsolete mail agent query.
    pub const MAILA: u16 = 254;
    /// Any type (RFC 8482).
    pub const ANY: u16 = 255;
}

/// The Internet class.
pub const CLASS_IN: u16 = 1;
