//! What an inbound needs of its server's host that the controller can know before the core
//! tries: a core that runs its options (the flavour the agent reported), and a port no other
//! program holds (the sockets the agent reported, and on the local server the controller's
//! own listeners).

use std::net::IpAddr;

use serde_json::Value;
use xfleet_common::methods::ListeningSocket;
use xfleet_common::xray::Flavour;

use super::Problems;
use crate::store::ServerRow;
use crate::Controller;

/// The core the server runs, as its agent said; a server never connected is taken to run
/// Xray (the product's target), and its agent refuses what its core cannot run.
pub fn flavour(server: &ServerRow) -> Flavour {
    let said = |text: &Option<String>| {
        text.as_deref()
            .is_some_and(|v| v.to_ascii_lowercase().contains("v2ray"))
    };
    if said(&server.core_flavour) || said(&server.core_version) {
        Flavour::V2ray
    } else {
        Flavour::Xray
    }
}

/// The core as messages name it: `v2ray 4.34.0`, or `xray` before its version is known.
pub fn core_label(server: &ServerRow) -> String {
    match &server.core_version {
        Some(version) => format!("{} {version}", flavour(server)),
        None => flavour(server).to_string(),
    }
}

/// The inbound fields the port check reads.
pub struct Listener<'a> {
    pub listen: &'a str,
    pub port: u16,
    pub protocol: &'a str,
    pub settings: &'a Value,
    pub stream_settings: &'a Value,
}

/// Refuses `port` when another program on the server's host listens on it (as the agent
/// last reported, or the controller's own listeners on the local server), on the same
/// transport and an overlapping address.
pub fn check_port_free(ctl: &Controller, server: &ServerRow, inbound: &Listener, p: &mut Problems) {
    let (tcp, udp) = transports(inbound.protocol, inbound.settings, inbound.stream_settings);
    let reported = ctl
        .fleet
        .listening(server.id)
        .unwrap_or_else(|| server.listening());
    let own = ctl
        .listeners
        .iter()
        .filter(|_| server.is_local != 0)
        .map(|(name, addr)| {
            (
                Some(*name),
                socket("tcp", addr.ip().to_string(), addr.port()),
            )
        });
    let taken = own
        .chain(reported.into_iter().map(|s| (None, s)))
        .find(|(_, s)| {
            s.port == inbound.port
                && ((s.protocol == "tcp" && tcp) || (s.protocol == "udp" && udp))
                && overlaps(inbound.listen, &s.address)
        });
    let Some((owner, s)) = taken else { return };
    let port = ("port", inbound.port.to_string());
    match owner {
        Some(name) => p.say(
            "port",
            "err.port_held_by_controller",
            &[port, ("listener", name.to_string())],
        ),
        None => p.say(
            "port",
            "err.port_held",
            &[
                port,
                ("transport", s.protocol.to_uppercase()),
                ("address", address_port(&s.address, s.port)),
            ],
        ),
    }
}

fn socket(protocol: &str, address: String, port: u16) -> ListeningSocket {
    ListeningSocket {
        protocol: protocol.into(),
        address,
        port,
    }
}

fn address_port(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// Whether the inbound listens on TCP, on UDP.
fn transports(protocol: &str, settings: &Value, stream: &Value) -> (bool, bool) {
    let network = |v: &Value| v.as_str().unwrap_or("tcp").to_ascii_lowercase();
    match protocol {
        "hysteria" | "hysteria2" | "wireguard" => (false, true),
        "shadowsocks" | "tunnel" | "dokodemo-door" => {
            let n = network(&settings["network"]);
            (n.contains("tcp"), n.contains("udp"))
        }
        "socks" | "mixed" => (true, settings["udp"].as_bool().unwrap_or(false)),
        _ => match network(&stream["network"]).as_str() {
            "kcp" | "mkcp" | "quic" => (false, true),
            _ => (true, false),
        },
    }
}

/// Whether a socket on `address` keeps an inbound on `listen` from the same port: the same
/// address, or either of them all addresses. A listen value that is no address (a Unix
/// socket path) takes no port.
fn overlaps(listen: &str, address: &str) -> bool {
    let listen = listen.trim();
    let any = |a: &IpAddr| a.is_unspecified();
    let Ok(theirs) = address.parse::<IpAddr>() else {
        return false;
    };
    match listen {
        "" => true,
        _ => match listen.parse::<IpAddr>() {
            Ok(ours) => ours == theirs || any(&ours) || any(&theirs),
            Err(_) => listen == "localhost" && (theirs.is_loopback() || any(&theirs)),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_port_is_shared_by_overlapping_addresses_on_the_same_transport() {
        assert!(overlaps("", "127.0.0.1"));
        assert!(overlaps("127.0.0.1", "127.0.0.1"));
        assert!(overlaps("127.0.0.1", "0.0.0.0"));
        assert!(overlaps("10.0.0.1", "::"));
        assert!(!overlaps("10.0.0.1", "127.0.0.1"));
        assert!(!overlaps("/run/xray.sock", "0.0.0.0"));
        let none = Value::Null;
        assert_eq!(
            transports("vless", &none, &json!({"network": "ws"})),
            (true, false)
        );
        assert_eq!(
            transports("vmess", &none, &json!({"network": "kcp"})),
            (false, true)
        );
        assert_eq!(transports("hysteria", &none, &none), (false, true));
        assert_eq!(
            transports("shadowsocks", &json!({"network": "tcp,udp"}), &none),
            (true, true)
        );
        assert_eq!(
            transports("socks", &json!({"udp": true}), &none),
            (true, true)
        );
    }
}
