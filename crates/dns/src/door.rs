//! The door beside the answer path: messages [`crate::respond_with`] does not answer itself
//! (zone transfers, NOTIFY, UPDATE, anything TSIG-signed) are handed, whole, to a [`Door`] the
//! control plane provides, which may read the configuration, write through the write path and
//! take its time. The answer path is not slowed for it: a message is looked at here only when
//! the fast path already refused it with NOTIMP, NOTAUTH, REFUSED or FORMERR, which is what it
//! says to these messages when no door is open.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use turnout_model::RType;

use crate::encode::Transport;
use crate::wire::Rcode;

/// What a door says to one message: the replies, in order (a transfer over TCP sends many;
/// over UDP only the first goes out; none: no reply).
pub type Replies = Pin<Box<dyn Future<Output = Vec<Vec<u8>>> + Send>>;

/// Where messages the answer path does not handle go.
pub trait Door: Send + Sync + 'static {
    /// Handles `message` from `client`, received on `server` over `transport`.
    fn open(
        &self,
        message: Vec<u8>,
        client: SocketAddr,
        server: SocketAddr,
        transport: Transport,
    ) -> Replies;
}

impl std::fmt::Debug for dyn Door {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Door")
    }
}

/// Opcode NOTIFY (RFC 1996).
pub const OPCODE_NOTIFY: u8 = 4;
/// Opcode UPDATE (RFC 2136).
pub const OPCODE_UPDATE: u8 = 5;

/// Whether the fast path's reply `rcode` to `packet` means the door should have it instead:
/// a NOTIFY or UPDATE, an AXFR or IXFR, or a signed message. Cheap for every other reply.
#[inline]
pub fn wants(packet: &[u8], rcode: Rcode) -> bool {
    matches!(rcode, Rcode::NOTIMP | Rcode::NOTAUTH | Rcode::REFUSED | Rcode::FORMERR)
        && door_message(packet)
}

#[cold]
#[inline(never)]
fn door_message(packet: &[u8]) -> bool {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return false;
    }
    let opcode = (packet[2] >> 3) & 0xF;
    if opcode == OPCODE_NOTIFY || opcode == OPCODE_UPDATE {
        return true;
    }
    if opcode != crate::wire::opcode::QUERY {
        return false;
    }
    let Ok(m) = crate::wire::message::parse(packet) else { return false };
    m.tsig.is_some() || m.questions.iter().any(|q| matches!(q.qtype, RType::AXFR | RType::IXFR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_door_messages_go_through() {
        let mut axfr = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        axfr.extend_from_slice(b"\x04test\x00\x00\xfc\x00\x01");
        assert!(wants(&axfr, Rcode::REFUSED));
        assert!(!wants(&axfr, Rcode::NOERROR), "only refused messages are looked at");
        let mut a = axfr.clone();
        let n = a.len();
        a[n - 3] = 1;
        assert!(!wants(&a, Rcode::REFUSED), "a refused A query stays refused");
        let mut notify = axfr.clone();
        notify[2] = OPCODE_NOTIFY << 3;
        assert!(wants(&notify, Rcode::NOTIMP));
        notify[2] |= 0x80;
        assert!(!wants(&notify, Rcode::NOTIMP), "a response");
    }
}
