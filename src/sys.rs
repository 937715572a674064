//! The few OS calls that are neither storage ([`crate::disk`]) nor ordinary sockets (the
//! reactor, the session and the tracker threads): entropy for peer ids and seeds, the socket
//! options std has no call for (`SO_REUSEADDR` before `bind`, `IP_MULTICAST_IF`).
//!
//! Called on the caller's thread (`SessionConfig::default` draws entropy; `Session::new` binds the
//! LSD sockets). The binary's one OS call of its own, the terminal's width, is `cli/terminal.rs`.
//!
//! An I/O shell, and with `disk/` the only place for `unsafe`. The sans-IO layers never call it:
//! they are handed their seeds (see [`crate::engine::EngineConfig::seed`]).

// I/O shell: OS entropy and raw socket options (the `unsafe` calls are libc's).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

/// 64 random bits from std's per-process hash keys (OS entropy without an extra dependency; not
/// for cryptography). Every call gives different bits.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x0063_6f72_6163_6c65);
    h.finish()
}

/// A UDP socket bound to `addr` with `SO_REUSEADDR` set before the bind, so that several
/// programs on one machine can each receive a multicast group's datagrams on its port (BEP 14
/// local discovery: every client binds 6771). Non-blocking and close-on-exec.
#[cfg(unix)]
pub fn bind_udp_reuse(addr: std::net::SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (family, storage, len) = sockaddr(addr);
    // SAFETY: socket() takes no pointers; the returned descriptor is checked and then owned.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns; OwnedFd closes it on every error path.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        // The IPv6 group only: the IPv4 socket binds the same port.
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    // SAFETY: `storage` is a sockaddr of `len` bytes for `family`, alive for the call.
    let rc = unsafe { libc::bind(fd, std::ptr::addr_of!(storage).cast(), len) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(std::net::UdpSocket::from(owned))
}

/// Starts a non-blocking TCP connection to `to` from the local address `from` (port chosen by
/// the system), for a session told to listen on, and dial from, one address (`--bind`). The
/// connection completes later, as `mio::net::TcpStream::connect`'s does.
#[cfg(unix)]
pub fn tcp_connect_from(
    from: std::net::IpAddr,
    to: std::net::SocketAddr,
) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (family, local, local_len) = sockaddr(std::net::SocketAddr::new(from, 0));
    // SAFETY: socket() takes no pointers; the returned descriptor is checked and then owned.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns; OwnedFd closes it on every error path.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `local` is a sockaddr of `local_len` bytes for `family`, alive for the call.
    if unsafe { libc::bind(fd, std::ptr::addr_of!(local).cast(), local_len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (_, remote, remote_len) = sockaddr(to);
    // SAFETY: as for bind: a live sockaddr of the stated length.
    if unsafe { libc::connect(fd, std::ptr::addr_of!(remote).cast(), remote_len) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(std::net::TcpStream::from(owned))
}

/// Sends `socket`'s IPv4 multicast out of the interface that has address `ip` (the session's
/// listen address), rather than the one the routing table picks.
#[cfg(unix)]
pub fn set_multicast_if_v4(
    socket: &std::net::UdpSocket,
    ip: std::net::Ipv4Addr,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let addr = libc::in_addr {
        s_addr: u32::from(ip).to_be(),
    };
    // SAFETY: IP_MULTICAST_IF reads one `in_addr` through the pointer, a live local.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            std::ptr::addr_of!(addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(unix)]
fn setsockopt_int(fd: libc::c_int, level: i32, name: i32, value: i32) -> std::io::Result<()> {
    // SAFETY: the option value is one `c_int`, a live local, with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `addr` as a C socket address: its family, the storage and the length that is used of it.
#[cfg(unix)]
fn sockaddr(addr: std::net::SocketAddr) -> (i32, libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data for which all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin) };
            let len = std::mem::size_of::<libc::sockaddr_in>();
            (libc::AF_INET, storage, len as libc::socklen_t)
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin6) };
            let len = std::mem::size_of::<libc::sockaddr_in6>();
            (libc::AF_INET6, storage, len as libc::socklen_t)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reuse_sockets_share_a_port() {
        let a = super::bind_udp_reuse("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = a.local_addr().unwrap();
        let b = super::bind_udp_reuse(addr).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        super::set_multicast_if_v4(&b, std::net::Ipv4Addr::LOCALHOST).unwrap();
    }

    #[test]
    fn random_draws_differ() {
        assert_ne!(super::random_u64(), super::random_u64());
    }
}
