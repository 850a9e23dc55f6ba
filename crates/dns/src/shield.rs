//! What the server does besides answering, to stay a good citizen under abuse: server DNS
//! cookies (RFC 7873, built as RFC 9018 says so that every node of a cluster checks the others'
//! cookies), response-rate limiting per client prefix, and the node's identity (NSID, RFC 5001;
//! `id.server` and `hostname.bind` in class CH, RFC 4892).
//!
//! A [`Shield`] is built once from the configuration and shared by every worker; only the
//! cookie secret changes while serving (it is rotated through the store), with one atomic
//! swap. Rate limiting keeps one packed 64-bit word per slot of a fixed table, updated with a
//! compare-and-swap: no lock and no allocation per query.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// The cookie secrets: the current one makes new cookies; the previous one, kept for one
/// rotation, still validates cookies made before it (RFC 9018 §5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieSecrets {
    /// Makes and checks cookies.
    pub current: [u8; 16],
    /// Checks cookies only.
    pub previous: Option<[u8; 16]>,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSecrets(..)")
    }
}

/// Response-rate limiting settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// Full answers per second to one client prefix over UDP.
    pub rate: u32,
    /// Of the limited responses, every `slip`th is sent truncated (TC, no records) so that a
    /// real client behind the prefix retries over TCP; the others are dropped. 0 drops all.
    pub slip: u32,
    /// The IPv4 prefix length clients are grouped by (24 by default).
    pub ipv4_prefix: u8,
    /// The IPv6 prefix length clients are grouped by (56 by default).
    pub ipv6_prefix: u8,
    /// Networks never limited.
    pub exempt: Vec<ipnet::IpNet>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit { rate: 20, slip: 2, ipv4_prefix: 24, ipv6_prefix: 56, exempt: Vec::new() }
    }
}

/// What the server adds to answering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShieldConfig {
    /// The node's identity: NSID, `id.server` and `hostname.bind` (none: not told).
    pub identity: Option<String>,
    /// Whether to answer client cookies with server cookies.
    pub cookies: bool,
    /// Response-rate limiting (none: off).
    pub rate_limit: Option<RateLimit>,
}

/// The shared state of [`ShieldConfig`].
pub struct Shield {
    identity: Option<Box<[u8]>>,
    cookies: Option<ArcSwap<CookieSecrets>>,
    limiter: Option<Limiter>,
    /// Whether a door takes the messages the answer path refuses for it (then they are not
    /// counted as the answer path's replies: the door counts them).
    door: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Shield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shield")
            .field("identity", &self.identity.is_some())
            .field("cookies", &self.cookies.is_some())
            .field("rate_limit", &self.limiter.is_some())
            .finish()
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ShieldError {
    /// The setting.
    pub field: &'static str,
    /// Why.
    pub message: String,
}

impl Shield {
    /// Nothing besides answering: no identity, no cookies, no limits.
    pub const fn off() -> Shield {
        Shield {
            identity: None,
            cookies: None,
            limiter: None,
            door: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Marks that a door ([`crate::door`]) takes the messages it wants.
    pub fn open_door(&self, open: bool) {
        self.door.store(open, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a door takes the messages it wants.
    #[inline]
    pub fn door_open(&self) -> bool {
        self.door.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Builds the shield; cookies start with `secrets` (a random secret of this node until the
    /// cluster's arrives).
    pub fn new(config: &ShieldConfig, secrets: CookieSecrets) -> Result<Shield, ShieldError> {
        let identity = match &config.identity {
            Some(id) if id.is_empty() || id.len() > 255 => {
                return Err(ShieldError {
                    field: "dns.identity",
                    message: format!("{} bytes; give 1 to 255", id.len()),
                });
            }
            Some(id) => Some(id.as_bytes().into()),
            None => None,
        };
        let limiter = match &config.rate_limit {
            None => None,
            Some(r) => {
                if r.rate == 0 {
                    return Err(ShieldError {
                        field: "dns.rate_limit.rate",
                        message: "must be at least 1 (leave rate_limit out to turn it off)".into(),
                    });
                }
                if !(8..=32).contains(&r.ipv4_prefix) || !(32..=64).contains(&r.ipv6_prefix) {
                    return Err(ShieldError {
                        field: "dns.rate_limit",
                        message: format!(
                            "prefix lengths /{} and /{}: IPv4 takes 8 to 32, IPv6 32 to 64",
                            r.ipv4_prefix, r.ipv6_prefix
                        ),
                    });
                }
                Some(Limiter::new(r.clone()))
            }
        };
        let cookies = config.cookies.then(|| ArcSwap::from_pointee(secrets));
        Ok(Shield { identity, cookies, limiter, door: std::sync::atomic::AtomicBool::new(false) })
    }

    /// Replaces the cookie secrets (after a rotation); cookies made with the old current one
    /// stay valid if it is the new previous one.
    pub fn set_cookie_secrets(&self, secrets: CookieSecrets) {
        if let Some(c) = &self.cookies {
            c.store(Arc::new(secrets));
        }
    }

    /// The identity, if configured.
    #[inline]
    pub(crate) fn identity(&self) -> Option<&[u8]> {
        self.identity.as_deref()
    }

    /// Whether rate limiting is on.
    #[inline]
    pub(crate) fn limits(&self) -> bool {
        self.limiter.is_some()
    }

    /// The rate-limit verdict for a UDP response to `client` at `now` (Unix seconds).
    pub(crate) fn limit(&self, client: Option<IpAddr>, now: u32) -> Verdict {
        match (&self.limiter, client) {
            (Some(l), Some(ip)) => l.check(ip, now),
            _ => Verdict::Pass,
        }
    }

    /// Checks a query's COOKIE option (8 to 40 bytes, already validated) from `client` at
    /// `now`, and makes the option of the reply. None when cookies are off.
    pub(crate) fn cookie(
        &self,
        option: &[u8],
        client: Option<IpAddr>,
        now: u32,
    ) -> Option<(CookieCheck, [u8; 24])> {
        let secrets = self.cookies.as_ref()?.load();
        let ip = client.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let mut client_cookie = [0u8; 8];
        client_cookie.copy_from_slice(&option[..8]);
        let mut reply = [0u8; 24];
        reply[..8].copy_from_slice(&client_cookie);
        let check = check_cookie(&secrets, &client_cookie, &option[8..], ip, now);
        match check {
            // Young enough: the same cookie back (RFC 9018 §4.3).
            CookieCheck::Valid { renew: false } => reply[8..].copy_from_slice(&option[8..24]),
            _ => reply[8..].copy_from_slice(&server_cookie(
                &secrets.current,
                &client_cookie,
                now,
                ip,
            )),
        }
        Some((check, reply))
    }
}

/// What a query's cookie proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CookieCheck {
    /// Only a client cookie: the client is not known yet.
    ClientOnly,
    /// A server cookie this cluster made for this client within the last hour; `renew` when it
    /// is older than half an hour.
    Valid {
        /// A fresh one goes back.
        renew: bool,
    },
    /// A server cookie that is not ours, not this client's, or stale.
    Invalid,
}

/// The RFC 9018 §4.2 server cookie: version 1, three reserved zero bytes, the timestamp, and
/// SipHash-2-4 of the client cookie, those eight bytes and the client's address.
pub fn server_cookie(secret: &[u8; 16], client: &[u8; 8], now: u32, ip: IpAddr) -> [u8; 16] {
    use std::hash::Hasher;
    let mut out = [0u8; 16];
    out[0] = 1;
    out[4..8].copy_from_slice(&now.to_be_bytes());
    let mut h = siphasher::sip::SipHasher24::new_with_key(secret);
    h.write(client);
    h.write(&out[..8]);
    match ip {
        IpAddr::V4(v4) => h.write(&v4.octets()),
        IpAddr::V6(v6) => h.write(&v6.octets()),
    }
    out[8..].copy_from_slice(&h.finish().to_le_bytes());
    out
}

/// A cookie is good for an hour after it was made, and may be dated up to five minutes ahead
/// (clocks of a cluster's nodes differ) (RFC 9018 §4.3).
const COOKIE_LIFE: u32 = 3600;
const COOKIE_SKEW: u32 = 300;
const COOKIE_RENEW: u32 = 1800;

fn check_cookie(
    secrets: &CookieSecrets,
    client: &[u8; 8],
    server: &[u8],
    ip: IpAddr,
    now: u32,
) -> CookieCheck {
    if server.is_empty() {
        return CookieCheck::ClientOnly;
    }
    if server.len() != 16 || server[0] != 1 {
        return CookieCheck::Invalid;
    }
    let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
    // Serial-number arithmetic (RFC 1982): the age may be "negative" by the skew.
    let age = now.wrapping_sub(stamp);
    let fresh = age <= COOKIE_LIFE || stamp.wrapping_sub(now) <= COOKIE_SKEW;
    if !fresh {
        return CookieCheck::Invalid;
    }
    let made_with = |secret: &[u8; 16]| {
        let mine = server_cookie(secret, client, stamp, ip);
        // The reserved bytes are part of the hash input: compare the whole cookie.
        constant_time_eq(&mine, server)
    };
    if made_with(&secrets.current) || secrets.previous.as_ref().is_some_and(made_with) {
        let renew = age <= COOKIE_LIFE && age > COOKIE_RENEW;
        CookieCheck::Valid { renew }
    } else {
        CookieCheck::Invalid
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A rate-limit verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Answer in full.
    Pass,
    /// Send a truncated reply (TC, no records): a real client retries over TCP.
    Slip,
    /// Send nothing.
    Drop,
}

/// Slots of the rate-limit table (a power of two): 512 KiB.
const SLOTS: usize = 1 << 16;

/// Per-prefix counts of the current second. A slot packs a 24-bit tag of the prefix, the low
/// 16 bits of the second and a 24-bit count; a prefix whose slot another prefix took starts
/// again from zero, which only ever errs towards answering.
struct Limiter {
    config: RateLimit,
    slots: Box<[AtomicU64]>,
}

impl Limiter {
    fn new(config: RateLimit) -> Limiter {
        Limiter { config, slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect() }
    }

    /// The prefix `ip` belongs to, as one number (the family in the top bit).
    fn prefix(&self, ip: IpAddr) -> u64 {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask =
                    u32::MAX.checked_shl(32 - u32::from(self.config.ipv4_prefix)).unwrap_or(0);
                u64::from(bits & mask)
            }
            IpAddr::V6(v6) => {
                let top = (u128::from(v6) >> 64) as u64;
                let mask =
                    u64::MAX.checked_shl(64 - u32::from(self.config.ipv6_prefix)).unwrap_or(0);
                // Apart from every IPv4 prefix (those are below 2^32).
                (top & mask) ^ 0x8000_0000_0000_0001
            }
        }
    }

    fn check(&self, ip: IpAddr, now: u32) -> Verdict {
        if !self.config.exempt.is_empty() && self.config.exempt.iter().any(|n| n.contains(&ip)) {
            return Verdict::Pass;
        }
        // A multiplicative hash spreads prefixes over the slots and gives the tag.
        let h = self.prefix(ip).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &self.slots[(h >> 48) as usize & (SLOTS - 1)];
        let tag = (h >> 8) & 0xFF_FFFF;
        let second = u64::from(now & 0xFFFF);
        let mut old = slot.load(Ordering::Relaxed);
        let count = loop {
            let (otag, osecond, ocount) = (old >> 40, (old >> 24) & 0xFFFF, old & 0xFF_FFFF);
            let count =
                if otag == tag && osecond == second { (ocount + 1).min(0xFF_FFFF) } else { 1 };
            let new = (tag << 40) | (second << 24) | count;
            match slot.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break count,
                Err(now_there) => old = now_there,
            }
        };
        let rate = u64::from(self.config.rate);
        if count <= rate {
            return Verdict::Pass;
        }
        let slip = u64::from(self.config.slip);
        if slip > 0 && (count - rate) % slip == 0 { Verdict::Slip } else { Verdict::Drop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex16(s: &str) -> [u8; 16] {
        let mut out = [0u8; 16];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }

    fn hex8(s: &str) -> [u8; 8] {
        let mut out = [0u8; 8];
        out.copy_from_slice(&hex16(&format!("{s}0000000000000000"))[..8]);
        out
    }

    /// RFC 9018 Appendix A.1 and A.3.
    #[test]
    fn server_cookies_match_rfc_9018() {
        let secret = hex16("e5e973e5a6b2a43f48e7dc849e37bfcf");
        let a1 = server_cookie(
            &secret,
            &hex8("2464c4abcf10c957"),
            1_559_731_985,
            "198.51.100.100".parse().expect("ip"),
        );
        assert_eq!(a1, hex16("010000005cf79f111f8130c3eee29480"));
        let a3 = server_cookie(
            &secret,
            &hex8("fc93fc62807ddb86"),
            1_559_734_700,
            "203.0.113.203".parse().expect("ip"),
        );
        assert_eq!(a3, hex16("010000005cf7a9acf73a7810aca2381e"));
    }

    #[test]
    fn cookies_are_checked_against_both_secrets_and_their_age() {
        let (old, new) = ([1u8; 16], [2u8; 16]);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let client = [7u8; 8];
        let made = server_cookie(&old, &client, 1000, ip);
        let before = CookieSecrets { current: old, previous: None };
        let after = CookieSecrets { current: new, previous: Some(old) };
        let check = |s: &CookieSecrets, cookie: &[u8], ip: IpAddr, now: u32| {
            check_cookie(s, &client, cookie, ip, now)
        };
        assert_eq!(check(&before, &made, ip, 1010), CookieCheck::Valid { renew: false });
        assert_eq!(check(&after, &made, ip, 1010), CookieCheck::Valid { renew: false });
        assert_eq!(check(&after, &made, ip, 1000 + 1801), CookieCheck::Valid { renew: true });
        assert_eq!(check(&after, &made, ip, 1000 + 3601), CookieCheck::Invalid, "stale");
        assert_eq!(check(&after, &made, ip, 1000 - 299), CookieCheck::Valid { renew: false });
        assert_eq!(check(&after, &made, ip, 1000 - 301), CookieCheck::Invalid, "from the future");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(check(&after, &made, other, 1010), CookieCheck::Invalid, "another client");
        let gone = CookieSecrets { current: [3u8; 16], previous: Some(new) };
        assert_eq!(check(&gone, &made, ip, 1010), CookieCheck::Invalid, "two rotations on");
        let mut forged = made;
        forged[15] ^= 1;
        assert_eq!(check(&before, &forged, ip, 1010), CookieCheck::Invalid);
        assert_eq!(check(&before, &made[..12], ip, 1010), CookieCheck::Invalid);
        assert_eq!(check(&before, &[], ip, 1010), CookieCheck::ClientOnly);
    }

    #[test]
    fn the_limiter_passes_the_rate_then_slips_every_nth_and_keeps_prefixes_apart() {
        let l = Limiter::new(RateLimit { rate: 5, slip: 2, ..RateLimit::default() });
        let a: IpAddr = "198.51.100.7".parse().expect("ip");
        let same_prefix: IpAddr = "198.51.100.200".parse().expect("ip");
        let other: IpAddr = "198.51.101.7".parse().expect("ip");
        let verdicts: Vec<Verdict> =
            (0..10).map(|i| l.check(if i % 2 == 0 { a } else { same_prefix }, 100)).collect();
        use Verdict::{Drop, Pass, Slip};
        assert_eq!(verdicts, [Pass, Pass, Pass, Pass, Pass, Drop, Slip, Drop, Slip, Drop]);
        assert_eq!(l.check(other, 100), Pass, "another /24 has its own count");
        assert_eq!(l.check(a, 101), Pass, "a new second starts again");
        let exempt = Limiter::new(RateLimit {
            rate: 1,
            exempt: vec!["198.51.100.0/24".parse().expect("net")],
            ..RateLimit::default()
        });
        assert!((0..10).all(|_| exempt.check(a, 100) == Pass));
        let v6 = Limiter::new(RateLimit { rate: 1, slip: 0, ..RateLimit::default() });
        let (x, y, z): (IpAddr, IpAddr, IpAddr) = (
            "2001:db8:0:1::1".parse().expect("ip"),
            "2001:db8:0:ff::2".parse().expect("ip"),
            "2001:db8:0:100::1".parse().expect("ip"),
        );
        assert_eq!((v6.check(x, 1), v6.check(y, 1)), (Pass, Drop), "one /56");
        assert_eq!(v6.check(z, 1), Pass, "the next /56");
    }
}
