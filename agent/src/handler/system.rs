//! Host facts and system metrics for `agent.info`, `system.stats` and heartbeats.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Mutex;
use std::time::Instant;

use sysinfo::{Disks, Networks, System};
use xfleet_common::methods::{
    AppStats, CoreStatus, Heartbeat, NetIo, NetTraffic, PublicIp, SystemStats, Usage,
};

/// Facts about the host that do not change while the agent runs.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub kernel: String,
}

impl HostInfo {
    pub fn detect() -> Self {
        Self {
            hostname: System::host_name().unwrap_or_else(|| "unknown".into()),
            os: System::long_os_version().unwrap_or_else(|| std::env::consts::OS.into()),
            arch: std::env::consts::ARCH.into(),
            kernel: System::kernel_version().unwrap_or_default(),
        }
    }
}

/// The host's addresses that clients on the internet can reach as they are: its interfaces'
/// addresses outside loopback, private, shared (carrier-grade NAT), link-local,
/// documentation and reserved ranges; IPv4 first. Share links point at the first when the
/// operator set no public address. Blocking (reads the interface list).
pub fn public_addresses() -> Vec<String> {
    public_of(&Networks::new_with_refreshed_list())
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn public_of(networks: &Networks) -> Vec<std::net::IpAddr> {
    let mut found: Vec<std::net::IpAddr> = networks
        .values()
        .flat_map(|data| data.ip_networks().iter().map(|n| n.addr))
        .filter(is_public)
        .collect();
    found.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    found.dedup();
    found
}

/// Whether an interface address is one clients elsewhere can reach without translation.
fn is_public(ip: &std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                // 100.64.0.0/10: shared by carrier-grade NAT.
                || (a == 100 && (64..128).contains(&b))
                // 198.18.0.0/15: benchmarking; 240.0.0.0/4: reserved.
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                // 2001:db8::/32: documentation.
                || (first == 0x2001 && v6.segments()[1] == 0x0db8)
                // IPv4-mapped and other addresses outside global unicast (2000::/3).
                || first & 0xe000 != 0x2000)
        }
    }
}

/// One sysinfo state for the whole process, refreshed on demand: CPU usage and network rates
/// are differences between two refreshes, so a fresh `System` per call would report zeros
/// (and cost far more).
pub struct SystemProbe {
    state: Mutex<ProbeState>,
}

struct ProbeState {
    sys: System,
    disks: Disks,
    networks: Networks,
    /// Totals at the previous `system.stats`, for bytes/s rates.
    last_net: Option<(Instant, u64, u64)>,
}

impl Default for SystemProbe {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemProbe {
    pub fn new() -> Self {
        let mut sys = System::new();
        sys.refresh_cpu_all();
        sys.refresh_memory();
        Self {
            state: Mutex::new(ProbeState {
                sys,
                disks: Disks::new_with_refreshed_list(),
                networks: Networks::new_with_refreshed_list(),
                last_net: None,
            }),
        }
    }

    /// Cheap metrics for the heartbeat event. Blocking (reads /proc).
    pub fn heartbeat(&self) -> Heartbeat {
        let mut st = self.state.lock().unwrap();
        st.sys.refresh_cpu_usage();
        st.sys.refresh_memory();
        Heartbeat {
            cpu_percent: st.sys.global_cpu_usage(),
            mem_used: st.sys.used_memory(),
            mem_total: st.sys.total_memory(),
            load1: System::load_average().one,
            uptime_s: System::uptime(),
            listening: Vec::new(),
            renewal_error: None,
        }
    }

    /// Everything 3x-ui's status object has. Blocking (reads /proc, statfs).
    pub fn stats(&self, process_started: Instant) -> SystemStats {
        let mut guard = self.state.lock().unwrap();
        let st = &mut *guard;
        st.sys.refresh_cpu_all();
        st.sys.refresh_memory();
        st.disks.refresh(true);
        st.networks.refresh(true);

        let (sent, recv) = st
            .networks
            .iter()
            .filter(|(name, _)| name.as_str() != "lo")
            .fold((0u64, 0u64), |(s, r), (_, data)| {
                (s + data.total_transmitted(), r + data.total_received())
            });
        let now = Instant::now();
        let net_io = match st.last_net {
            Some((at, s0, r0)) => {
                let secs = now.duration_since(at).as_secs_f64().max(0.001);
                NetIo {
                    up: (sent.saturating_sub(s0) as f64 / secs) as u64,
                    down: (recv.saturating_sub(r0) as f64 / secs) as u64,
                }
            }
            None => NetIo::default(),
        };
        st.last_net = Some((now, sent, recv));

        // 3x-ui reports the root file system; fall back to the sum when there is no `/`.
        let disk = match st
            .disks
            .iter()
            .find(|d| d.mount_point() == std::path::Path::new("/"))
        {
            Some(d) => Usage {
                current: d.total_space().saturating_sub(d.available_space()),
                total: d.total_space(),
            },
            None => st.disks.iter().fold(Usage::default(), |u, d| Usage {
                current: u.current + d.total_space().saturating_sub(d.available_space()),
                total: u.total + d.total_space(),
            }),
        };
        let load = System::load_average();
        let cpus = st.sys.cpus();
        SystemStats {
            cpu: st.sys.global_cpu_usage() as f64,
            cpu_cores: System::physical_core_count().unwrap_or(cpus.len()) as u32,
            logical_pro: cpus.len() as u32,
            cpu_speed_mhz: cpus.first().map(|c| c.frequency() as f64).unwrap_or(0.0),
            mem: Usage {
                current: st.sys.used_memory(),
                total: st.sys.total_memory(),
            },
            swap: Usage {
                current: st.sys.used_swap(),
                total: st.sys.total_swap(),
            },
            disk,
            // Filled by the handler, which owns the core.
            xray: CoreStatus::default(),
            uptime: System::uptime(),
            loads: [load.one, load.five, load.fifteen],
            tcp_count: socket_count(&["/proc/net/tcp", "/proc/net/tcp6"]),
            udp_count: socket_count(&["/proc/net/udp", "/proc/net/udp6"]),
            net_io,
            net_traffic: NetTraffic { sent, recv },
            // What the host's own interfaces say; behind NAT, nothing (no outside lookup).
            public_ip: {
                let public = public_of(&st.networks);
                let first = |v6: bool| {
                    public
                        .iter()
                        .find(|ip| ip.is_ipv6() == v6)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                };
                PublicIp {
                    ipv4: first(false),
                    ipv6: first(true),
                }
            },
            app_stats: app_stats(process_started),
        }
    }
}

/// Sockets listed in /proc/net tables (one line each after the header). Streams the file: a
/// busy VPN host can have hundreds of thousands of lines.
fn socket_count(paths: &[&str]) -> u64 {
    paths
        .iter()
        .filter_map(|p| count_lines(File::open(p).ok()?).ok())
        .map(|lines| lines.saturating_sub(1))
        .sum()
}

fn count_lines(mut file: impl Read) -> io::Result<u64> {
    let mut buf = [0u8; 16 * 1024];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Threads and resident memory of this process, from /proc/self/status.
fn app_stats(process_started: Instant) -> AppStats {
    let mut stats = AppStats {
        uptime: process_started.elapsed().as_secs(),
        ..AppStats::default()
    };
    if let Ok(file) = File::open("/proc/self/status") {
        for line in BufReader::new(file).lines().map_while(Result::ok) {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("Threads:"), Some(n)) => stats.threads = n.parse().unwrap_or(0),
                (Some("VmRSS:"), Some(kb)) => {
                    stats.mem = kb.parse::<u64>().unwrap_or(0).saturating_mul(1024)
                }
                _ => {}
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_filled_from_this_host() {
        let probe = SystemProbe::new();
        let started = Instant::now();
        let first = probe.stats(started);
        let second = probe.stats(started);
        assert!(first.mem.total > 0 && first.mem.current <= first.mem.total);
        assert!(first.logical_pro >= 1 && first.cpu_cores >= 1);
        assert!(first.uptime > 0);
        assert!(first.app_stats.threads >= 1 && first.app_stats.mem > 0);
        assert!(second.net_traffic.sent >= first.net_traffic.sent);
        let hb = probe.heartbeat();
        assert!(hb.mem_total > 0);
    }

    #[test]
    fn only_addresses_reachable_from_the_internet_are_public() {
        let public = ["203.0.114.7", "8.8.8.8", "2a01:4f8::1", "2001:4860::8888"];
        let not = [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.10",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.2.1",
            "198.18.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ];
        for ip in public {
            assert!(is_public(&ip.parse().unwrap()), "{ip} is public");
        }
        for ip in not {
            assert!(!is_public(&ip.parse().unwrap()), "{ip} is not public");
        }
        // Whatever this host has, nothing private is reported.
        for ip in public_addresses() {
            assert!(is_public(&ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn proc_net_lines_are_counted_without_the_header() {
        let text = b"  sl  local_address\n   0: 0100007F:0035\n   1: 00000000:0016\n";
        assert_eq!(count_lines(&text[..]).unwrap(), 3);
    }
}
