//! One UDP worker: a blocking loop on its own SO_REUSEPORT socket.
//!
//! On Linux each turn receives up to [`BATCH`] datagrams with one `recvmmsg`, answers them from
//! one snapshot load, and sends the replies with `sendmmsg`: two system calls for a whole batch
//! under load, and no more than a plain `recvfrom`/`sendto` pair when idle. Elsewhere it falls
//! back to one datagram at a time. The socket has a read timeout of [`POLL_INTERVAL`] so the
//! loop notices shutdown; no lock or allocation happens per packet.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::encode::{EDNS_UDP_PAYLOAD, Transport};
use crate::shield::Shield;
use crate::stats::Shard;
use crate::tap::{Exchange, Taps};
use crate::{SnapshotHandle, respond_with};

use super::DoorQueue;

/// How often an idle worker checks for shutdown.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Datagrams per batch.
pub(crate) const BATCH: usize = 32;
/// The largest query read; longer ones are cut and then fail to decode (FORMERR).
pub(crate) const RECV_BUF: usize = 4096;
const SEND_BUF: usize = EDNS_UDP_PAYLOAD as usize;

/// Errors a UDP socket reports that concern one datagram or a passing condition, not the socket.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::OutOfMemory
    ) || matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::ENOMEM | libc::EAGAIN))
}

/// Serves `socket` until `stop` is set. Returns an error only when the socket itself fails.
pub(crate) fn serve(
    socket: UdpSocket,
    handle: &SnapshotHandle,
    shield: &Shield,
    tally: Option<&Shard>,
    taps: &Taps,
    door: Option<&DoorQueue>,
    stop: &AtomicBool,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        mmsg::serve(&socket, handle, shield, tally, taps, door, stop)
    }
    #[cfg(not(target_os = "linux"))]
    {
        serve_simple(&socket, handle, shield, tally, taps, door, stop)
    }
}

/// The Unix time in seconds, as cookies and rate limits count it (read once per batch).
pub(crate) fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(not(target_os = "linux"))]
fn serve_simple(
    socket: &UdpSocket,
    handle: &SnapshotHandle,
    shield: &Shield,
    tally: Option<&Shard>,
    taps: &Taps,
    door: Option<&DoorQueue>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let local = socket.local_addr()?;
    let mut inb = vec![0u8; RECV_BUF];
    let mut out = vec![0u8; SEND_BUF];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut inb) {
            Ok(x) => x,
            Err(e) if transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let query_time = taps.any().then(crate::tap::now);
        let reply = {
            let snap = handle.load();
            let client = Some(peer.ip().to_canonical());
            let now = unix_now();
            respond_with(&snap, shield, tally, &inb[..len], Transport::Udp, client, now, &mut out)
        };
        if let (Some(q), Some((_, rcode))) = (door, reply)
            && crate::door::wants(&inb[..len], rcode)
        {
            q.hand_off(&inb[..len], peer);
            continue;
        }
        if let Some(query_time) = query_time {
            let (n, rcode) = reply.map_or((0, 0), |(n, r)| (n, r.0));
            taps.record(Exchange {
                query: &inb[..len],
                reply: &out[..n],
                rcode,
                client: peer,
                server: local,
                transport: Transport::Udp,
                query_time,
            });
        }
        if let Some((n, _)) = reply
            && let Err(e) = socket.send_to(&out[..n], peer)
            && !transient(&e)
        {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod mmsg {
    //! `recvmmsg`/`sendmmsg` through libc. The only unsafe code in the data plane: every
    //! pointer handed to the kernel points into buffers owned by [`Batch`], which outlive the
    //! call, with the lengths of those buffers.

    use super::*;
    use std::mem::{MaybeUninit, size_of, zeroed};
    use std::os::fd::AsRawFd;

    struct Batch {
        inb: Box<[[u8; RECV_BUF]]>,
        out: Box<[[u8; SEND_BUF]]>,
        addrs: Box<[libc::sockaddr_storage]>,
        addr_lens: [libc::socklen_t; BATCH],
        in_lens: [usize; BATCH],
        out_lens: [usize; BATCH],
        iov: [libc::iovec; BATCH],
        hdr: [libc::mmsghdr; BATCH],
    }

    impl Batch {
        fn new() -> Box<Batch> {
            // SAFETY: every field is plain old data (integers, byte arrays, C structs of integers
            // and pointers) for which all-zero bytes are a valid value.
            let zeroed_pod = || unsafe { zeroed() };
            Box::new(Batch {
                inb: vec![[0u8; RECV_BUF]; BATCH].into_boxed_slice(),
                out: vec![[0u8; SEND_BUF]; BATCH].into_boxed_slice(),
                addrs: (0..BATCH).map(|_| zeroed_pod()).collect(),
                addr_lens: [0; BATCH],
                in_lens: [0; BATCH],
                out_lens: [0; BATCH],
                iov: [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH],
                // SAFETY: as above.
                hdr: unsafe { MaybeUninit::zeroed().assume_init() },
            })
        }

        /// Receives up to BATCH datagrams; blocks for the first only (MSG_WAITFORONE).
        fn recv(&mut self, fd: i32) -> io::Result<usize> {
            for i in 0..BATCH {
                self.iov[i] =
                    libc::iovec { iov_base: self.inb[i].as_mut_ptr().cast(), iov_len: RECV_BUF };
                let h = &mut self.hdr[i].msg_hdr;
                h.msg_name = (&raw mut self.addrs[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &raw mut self.iov[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
                self.hdr[i].msg_len = 0;
            }
            // SAFETY: hdr[i] points at iov[i] and addrs[i], which point into self's buffers with
            // their true lengths; all live across the call.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdr.as_mut_ptr(),
                    BATCH as _,
                    libc::MSG_WAITFORONE as _,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            for i in 0..n {
                self.in_lens[i] = self.hdr[i].msg_len as usize;
                self.addr_lens[i] = self.hdr[i].msg_hdr.msg_namelen;
            }
            Ok(n)
        }

        /// Sends out[i][..out_lens[i]] to addrs[i] for every i < n with a reply.
        fn send(&mut self, fd: i32, n: usize) -> io::Result<()> {
            let mut k = 0;
            for (i, &len) in self.out_lens[..n].iter().enumerate() {
                if len == 0 {
                    continue;
                }
                self.iov[k] =
                    libc::iovec { iov_base: self.out[i].as_mut_ptr().cast(), iov_len: len };
                let h = &mut self.hdr[k].msg_hdr;
                h.msg_name = (&raw mut self.addrs[i]).cast();
                h.msg_namelen = self.addr_lens[i];
                h.msg_iov = &raw mut self.iov[k];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
                k += 1;
            }
            let mut sent = 0;
            while sent < k {
                // SAFETY: hdr[sent..k] point at iov and addrs entries set just above, which point
                // into self's buffers with their true lengths.
                let r = unsafe {
                    libc::sendmmsg(fd, self.hdr[sent..].as_mut_ptr(), (k - sent) as _, 0)
                };
                if r < 0 {
                    let e = io::Error::last_os_error();
                    if !transient(&e) {
                        return Err(e);
                    }
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    // This datagram cannot go (full buffer, bad peer address): drop it.
                    sent += 1;
                } else {
                    sent += r as usize;
                }
            }
            Ok(())
        }
    }

    /// The address a datagram came from (an IPv4-mapped IPv6 address as IPv4).
    fn peer_addr(addr: &libc::sockaddr_storage) -> Option<std::net::SocketAddr> {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
        match i32::from(addr.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it is large
                // and aligned enough for.
                let a = unsafe { &*(&raw const *addr).cast::<libc::sockaddr_in>() };
                let ip = IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)));
                Some(SocketAddr::new(ip, u16::from_be(a.sin_port)))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for a sockaddr_in6.
                let a = unsafe { &*(&raw const *addr).cast::<libc::sockaddr_in6>() };
                let ip = IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)).to_canonical();
                Some(SocketAddr::new(ip, u16::from_be(a.sin6_port)))
            }
            _ => None,
        }
    }

    pub(super) fn serve(
        socket: &UdpSocket,
        handle: &SnapshotHandle,
        shield: &Shield,
        tally: Option<&Shard>,
        taps: &Taps,
        door: Option<&DoorQueue>,
        stop: &AtomicBool,
    ) -> io::Result<()> {
        let fd = socket.as_raw_fd();
        let local = socket.local_addr()?;
        let mut b = Batch::new();
        while !stop.load(Ordering::Relaxed) {
            let n = match b.recv(fd) {
                Ok(n) => n,
                Err(e) if transient(&e) => continue,
                Err(e) => return Err(e),
            };
            {
                let snap = handle.load();
                let now = unix_now();
                let Batch { inb, out, in_lens, out_lens, addrs, .. } = &mut *b;
                for i in 0..n {
                    let len = in_lens[i].min(RECV_BUF);
                    let peer = peer_addr(&addrs[i]);
                    let client = peer.map(|p| p.ip());
                    let query = &inb[i][..len];
                    let query_time = taps.any().then(crate::tap::now);
                    let reply = respond_with(
                        &snap,
                        shield,
                        tally,
                        query,
                        Transport::Udp,
                        client,
                        now,
                        &mut out[i],
                    );
                    out_lens[i] = reply.map_or(0, |(n, _)| n);
                    if let (Some(q), Some((_, rcode)), Some(peer)) = (door, reply, peer)
                        && crate::door::wants(query, rcode)
                    {
                        // The door replies on its own; a full queue drops the datagram.
                        q.hand_off(query, peer);
                        out_lens[i] = 0;
                        continue;
                    }
                    if let (Some(query_time), Some(client)) = (query_time, peer) {
                        taps.record(Exchange {
                            query,
                            reply: &out[i][..out_lens[i]],
                            rcode: reply.map_or(0, |(_, r)| r.0),
                            client,
                            server: local,
                            transport: Transport::Udp,
                            query_time,
                        });
                    }
                }
            }
            b.send(fd, n)?;
        }
        Ok(())
    }
}
