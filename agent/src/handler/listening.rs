//! The sockets programs listen on, from `/proc/net`: what the heartbeat tells the controller,
//! so it can refuse an inbound on a port that is taken before the core fails on it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use xfleet_common::methods::ListeningSocket;

/// TCP listeners and bound, unconnected UDP sockets, without those on `excluded` ports (the
/// core's own inbounds). Blocking: reads `/proc/net/{tcp,tcp6,udp,udp6}` whole, a line per
/// socket, so a host with many connections pays for each; the heartbeat reads them once per
/// interval (25 s by default).
pub fn listening_sockets(excluded: &BTreeSet<u16>) -> Vec<ListeningSocket> {
    let mut found = BTreeSet::new();
    for (protocol, path) in [
        ("tcp", "/proc/net/tcp"),
        ("tcp", "/proc/net/tcp6"),
        ("udp", "/proc/net/udp"),
        ("udp", "/proc/net/udp6"),
    ] {
        let Ok(file) = File::open(path) else { continue };
        for line in BufReader::new(file).lines().skip(1).map_while(Result::ok) {
            if let Some(socket) = parse_line(protocol, &line) {
                if !excluded.contains(&socket.port) {
                    found.insert(socket);
                }
            }
        }
    }
    found.into_iter().collect()
}

/// One line of a `/proc/net` socket table, if it is a listening socket:
/// `sl local_address rem_address st …`, addresses as `HEXADDR:HEXPORT`.
fn parse_line(protocol: &str, line: &str) -> Option<ListeningSocket> {
    let mut cols = line.split_whitespace().skip(1);
    let (local, remote, state) = (cols.next()?, cols.next()?, cols.next()?);
    // TCP: LISTEN. UDP: unconnected (TCP_CLOSE, no remote port).
    let listening = match protocol {
        "tcp" => state == "0A",
        _ => state == "07" && remote.ends_with(":0000"),
    };
    if !listening {
        return None;
    }
    let (address, port) = local.split_once(':')?;
    Some(ListeningSocket {
        protocol: protocol.to_owned(),
        address: parse_address(address)?.to_string(),
        port: u16::from_str_radix(port, 16).ok()?,
    })
}

/// The kernel prints each 32-bit word of the address as it lies in memory.
fn parse_address(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_are_read_from_the_kernel_tables() {
        let tcp = "   0: 0100007F:0805 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 1234 1 0 100 0 0 10 0";
        let socket = parse_line("tcp", tcp).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(socket.address, "127.0.0.1");
        }
        assert_eq!((socket.protocol.as_str(), socket.port), ("tcp", 2053));
        let established = tcp.replace(" 0A ", " 01 ");
        assert_eq!(parse_line("tcp", &established), None);
        let any6 = "   1: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 99 1 0 100 0 0 10 0";
        assert_eq!(parse_line("tcp", any6).unwrap().address, "::");
        let udp = "  5: 00000000:20CC 00000000:0000 07 00000000:00000000 00:00000000 00000000  0 0 77 2 0 0";
        assert_eq!(parse_line("udp", udp).unwrap().port, 8396);
        let connected = "  5: 00000000:20CC 0100007F:0035 01 00000000:00000000 00:00000000 00000000  0 0 77 2 0 0";
        assert_eq!(parse_line("udp", connected), None);
    }

    #[test]
    fn a_socket_this_test_holds_is_found_unless_excluded() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let found = listening_sockets(&BTreeSet::new());
        assert!(
            found
                .iter()
                .any(|s| s.protocol == "tcp" && s.port == port && s.address == "127.0.0.1"),
            "{found:?}"
        );
        assert!(!listening_sockets(&BTreeSet::from([port]))
            .iter()
            .any(|s| s.port == port && s.protocol == "tcp"));
    }
}
