//! The gateway test of the score (`docs/compat.md` section 4): a few
//! probes a short pause apart; the result is how many succeeded.
//!
//! The probes follow the reference's network submonitor: one ICMP echo (the
//! reference runs `ping -c 1 -W <secs>`), a DNS query over TCP to the configured
//! name servers (the reference runs `dig +tries=1 +time=<secs> +tcp`, which asks
//! for the root's name servers and succeeds on any answer), a TCP connect (the
//! reference runs `nc -z`), or nothing. Its per-probe timeout is 5 s. We do all
//! of them ourselves, with no program to spawn or to be missing: the echo
//! through an ICMP socket (`super::icmp`); when this process may open none,
//! the test cannot run, which is an error with its reason, not a result.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Instant;

use super::icmp;
use super::net;
use super::read_prefix;
use super::stop::{Stop, deadline_in};
use crate::config::{HostedEngineConf, NetworkTest, Timings};

/// Probes of one test at most, whatever the configuration says.
pub const PROBE_COUNT_MAX: u32 = 100;
/// One probe's timeout (the reference's default `timeout`, 5 s).
pub const PROBE_TIMEOUT_MS: u64 = 5_000;
/// Where the name servers are configured.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// Name servers used at most (glibc's `MAXNS`).
pub const NAMESERVERS_MAX: usize = 3;
/// Bytes of `resolv.conf` read at most.
const RESOLV_CONF_MAX_BYTES: usize = 64 * 1024;
const DNS_PORT: u16 = 53;

/// Where the `dns` test sends its query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsServers {
    /// The `nameserver` lines of this file, read at every probe; none (or no
    /// file) means 127.0.0.1, as for the system resolver.
    ResolvConf(PathBuf),
    /// These servers (tests, the lab).
    Fixed(Vec<SocketAddr>),
}

/// One kind of gateway test with its target (key `network_test`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayTest {
    /// An ICMP echo to this address (or name).
    Ping {
        gateway: String,
    },
    Dns {
        servers: DnsServers,
    },
    Tcp {
        address: String,
        port: u16,
    },
    /// No test: every probe counts as a success.
    None,
    /// The configuration lacks the test's target; the test has no result.
    Unusable(String),
}

/// How many probes, how far apart, and how long each may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbePlan {
    pub count: u32,
    pub interval_ms: u64,
    pub timeout_ms: u64,
}

impl ProbePlan {
    /// The configured count and interval with the reference's probe timeout.
    pub fn from_timings(timings: &Timings) -> Self {
        ProbePlan {
            count: timings.gateway_probe_count,
            interval_ms: timings.gateway_probe_interval_ms,
            timeout_ms: PROBE_TIMEOUT_MS,
        }
    }

    /// The longest one test can take.
    pub fn worst_case_ms(&self) -> u64 {
        let count = u64::from(self.count.min(PROBE_COUNT_MAX));
        count
            .saturating_mul(self.timeout_ms)
            .saturating_add(count.saturating_sub(1).saturating_mul(self.interval_ms))
    }
}

/// The outcome of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    pub ok: u32,
    pub total: u32,
    /// Why the last failed probe failed.
    pub last_failure: Option<String>,
}

enum Probe {
    Ok,
    Failed(String),
    /// The test cannot run at all (e.g. no ICMP socket may be opened).
    Unusable(String),
}

impl GatewayTest {
    /// The test `hosted-engine.conf` asks for.
    pub fn from_conf(conf: &HostedEngineConf) -> Self {
        match conf.network_test {
            NetworkTest::Ping => match &conf.gateway {
                Some(gateway) => GatewayTest::Ping {
                    gateway: gateway.clone(),
                },
                None => GatewayTest::Unusable("network_test=ping needs gateway".into()),
            },
            NetworkTest::Dns => GatewayTest::Dns {
                servers: DnsServers::ResolvConf(RESOLV_CONF.into()),
            },
            NetworkTest::Tcp => match (&conf.tcp_t_address, conf.tcp_t_port) {
                (Some(address), Some(port)) => GatewayTest::Tcp {
                    address: address.clone(),
                    port,
                },
                _ => GatewayTest::Unusable(
                    "network_test=tcp needs tcp_t_address and tcp_t_port".into(),
                ),
            },
            NetworkTest::None => GatewayTest::None,
        }
    }

    /// Runs the probes; `Err` when the test cannot run (then it has no result)
    /// or was stopped.
    pub fn run(&self, plan: &ProbePlan, stop: &Stop) -> Result<ProbeReport, String> {
        let total = plan.count.min(PROBE_COUNT_MAX);
        match self {
            GatewayTest::None => {
                return Ok(ProbeReport {
                    ok: total,
                    total,
                    last_failure: None,
                });
            }
            GatewayTest::Unusable(why) => return Err(why.clone()),
            _ => {}
        }
        let mut report = ProbeReport {
            ok: 0,
            total,
            last_failure: None,
        };
        for index in 0..total {
            if index > 0 && stop.sleep_ms(plan.interval_ms) {
                return Err("stopped".into());
            }
            match self.probe(plan.timeout_ms, stop) {
                Probe::Ok => report.ok += 1,
                Probe::Failed(why) => report.last_failure = Some(why),
                Probe::Unusable(why) => return Err(why),
            }
            if stop.is_stopped() {
                return Err("stopped".into());
            }
        }
        Ok(report)
    }

    fn probe(&self, timeout_ms: u64, stop: &Stop) -> Probe {
        let deadline = deadline_in(timeout_ms);
        match self {
            GatewayTest::Ping { gateway } => ping(gateway, deadline, stop),
            GatewayTest::Dns { servers } => dns(servers, deadline, stop),
            GatewayTest::Tcp { address, port } => {
                match net::connect(address, *port, deadline, stop) {
                    Ok(_) => Probe::Ok,
                    Err(why) => Probe::Failed(why),
                }
            }
            GatewayTest::None => Probe::Ok,
            GatewayTest::Unusable(why) => Probe::Unusable(why.clone()),
        }
    }
}

/// One ICMP echo to `gateway` (resolved first when it is a name), answered
/// by `deadline`.
fn ping(gateway: &str, deadline: Instant, stop: &Stop) -> Probe {
    static NEXT_SEQ: AtomicU16 = AtomicU16::new(0);
    if gateway.is_empty() || gateway.starts_with('-') {
        return Probe::Unusable(format!("{gateway:?} is not a gateway address"));
    }
    let target = match net::resolve(gateway, 0, deadline, stop) {
        Ok(addrs) => match addrs.first() {
            Some(addr) => *addr,
            None => return Probe::Failed(format!("ping {gateway}: no address")),
        },
        Err(why) => return Probe::Failed(format!("ping {why}")),
    };
    let pinger = match icmp::Pinger::open(target.ip()) {
        Ok(pinger) => pinger,
        Err(why) => return Probe::Unusable(why),
    };
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    match pinger.echo(target, seq, deadline, stop) {
        Ok(()) => Probe::Ok,
        Err(why) => Probe::Failed(why),
    }
}

/// Whether this process can run `test` at all: for the ping, whether it may
/// open an ICMP socket for the gateway's family (`--check-config`). A name
/// is not resolved here; an IPv4 socket is tried for it.
pub fn check_runnable(test: &GatewayTest) -> Result<(), String> {
    match test {
        GatewayTest::Ping { gateway } => {
            // A scope (`fe80::1%eth0`) does not change the family.
            let address = gateway.split('%').next().unwrap_or(gateway);
            let family = match address.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => IpAddr::from([127, 0, 0, 1]),
            };
            icmp::Pinger::open(family).map(drop)
        }
        GatewayTest::Unusable(why) => Err(why.clone()),
        GatewayTest::Dns { .. } | GatewayTest::Tcp { .. } | GatewayTest::None => Ok(()),
    }
}

/// One DNS query, to each name server in turn until one answers.
fn dns(servers: &DnsServers, deadline: Instant, stop: &Stop) -> Probe {
    let servers = match servers {
        DnsServers::Fixed(list) => list.clone(),
        DnsServers::ResolvConf(path) => nameservers(path),
    };
    let mut last = "no name server".to_string();
    for server in servers.iter().take(NAMESERVERS_MAX) {
        match dns_query(server, deadline, stop) {
            Ok(()) => return Probe::Ok,
            Err(why) => last = format!("dns: {why}"),
        }
        if stop.is_stopped() || Instant::now() >= deadline {
            break;
        }
    }
    Probe::Failed(last)
}

/// The name servers of a `resolv.conf`, 127.0.0.1 when it names none.
fn nameservers(path: &Path) -> Vec<SocketAddr> {
    let listed = match read_prefix(path, RESOLV_CONF_MAX_BYTES) {
        Ok(text) => parse_resolv_conf(&text),
        Err(_) => Vec::new(),
    };
    let listed = match listed.is_empty() {
        true => vec![IpAddr::from([127, 0, 0, 1])],
        false => listed,
    };
    listed
        .into_iter()
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .collect()
}

/// The `nameserver` addresses of a `resolv.conf`, at most [`NAMESERVERS_MAX`];
/// a zone suffix (`%eth0`) is dropped, lines that are not addresses are skipped.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => words.next(),
                _ => None,
            }
        })
        .filter_map(|addr| addr.split('%').next()?.parse::<IpAddr>().ok())
        .take(NAMESERVERS_MAX)
        .collect()
}

fn dns_query(server: &SocketAddr, deadline: Instant, stop: &Stop) -> Result<(), String> {
    static NEXT_ID: AtomicU16 = AtomicU16::new(0);
    let id = NEXT_ID
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_add(std::process::id() as u16);
    let peer = server.to_string();
    let mut stream = net::connect_addr(server, deadline, stop)?;
    net::write_all(&mut stream, &dns_query_bytes(id), deadline, stop, &peer)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    while answer.len() < DNS_ANSWER_MIN_BYTES {
        let n = net::read_some(&mut stream, &mut buf, deadline, stop, &peer)?;
        if n == 0 {
            return Err(format!("{peer}: closed without an answer"));
        }
        answer.extend_from_slice(&buf[..n]);
    }
    check_dns_answer(&answer, id).map_err(|why| format!("{peer}: {why}"))
}

/// A DNS-over-TCP answer's length prefix and header.
const DNS_ANSWER_MIN_BYTES: usize = 2 + 12;

/// A DNS query over TCP (with its length prefix) for the root's name servers,
/// recursion desired: what `dig` asks when given no name.
pub fn dns_query_bytes(id: u16) -> Vec<u8> {
    let mut message = Vec::with_capacity(19);
    message.extend_from_slice(&17u16.to_be_bytes());
    message.extend_from_slice(&id.to_be_bytes());
    // Flags: a standard query with RD; one question, no other records.
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    // The root name, type NS (2), class IN (1).
    message.extend_from_slice(&[0, 0, 2, 0, 1]);
    message
}

/// Whether `answer` (length prefix included) answers query `id`. Any response
/// code counts: the server answered, which is what the test is about (`dig`
/// also exits 0 on SERVFAIL or REFUSED).
pub fn check_dns_answer(answer: &[u8], id: u16) -> Result<(), String> {
    if answer.len() < DNS_ANSWER_MIN_BYTES {
        return Err("answer too short".into());
    }
    let length = u16::from_be_bytes([answer[0], answer[1]]);
    if usize::from(length) < 12 {
        return Err(format!("answer of {length} bytes is too short"));
    }
    if u16::from_be_bytes([answer[2], answer[3]]) != id {
        return Err("answer to another query".into());
    }
    if answer[4] & 0x80 == 0 {
        return Err("not a DNS answer".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_name_servers() {
        let text = "# generated\nsearch lab\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n\
                    nameserver not-an-ip\noptions ndots:1\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        let found = parse_resolv_conf(text);
        let expected: Vec<IpAddr> = ["10.0.0.2", "fe80::1", "10.0.0.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(found, expected);
        assert!(parse_resolv_conf("").is_empty());
        let dir = tempfile::tempdir().unwrap();
        let missing = nameservers(&dir.path().join("resolv.conf"));
        assert_eq!(missing, vec!["127.0.0.1:53".parse().unwrap()]);
    }

    #[test]
    fn dns_query_and_answer() {
        let query = dns_query_bytes(0xbeef);
        assert_eq!(query.len(), 19);
        assert_eq!(&query[..4], &[0, 17, 0xbe, 0xef]);
        let mut answer = query.clone();
        answer[4] |= 0x80;
        answer[5] |= 0x02; // SERVFAIL still counts as an answer
        assert_eq!(check_dns_answer(&answer, 0xbeef), Ok(()));
        assert!(check_dns_answer(&answer, 0xbeee).is_err());
        assert!(check_dns_answer(&query, 0xbeef).is_err());
        assert!(check_dns_answer(&answer[..10], 0xbeef).is_err());
        let mut tiny = answer.clone();
        tiny[1] = 4;
        assert!(check_dns_answer(&tiny, 0xbeef).is_err());
    }

    #[test]
    fn worst_case_covers_every_probe() {
        let plan = ProbePlan {
            count: 5,
            interval_ms: 500,
            timeout_ms: 5_000,
        };
        assert_eq!(plan.worst_case_ms(), 5 * 5_000 + 4 * 500);
        let huge = ProbePlan {
            count: u32::MAX,
            ..plan
        };
        assert_eq!(huge.worst_case_ms(), 100 * 5_000 + 99 * 500);
    }

    #[test]
    fn unusable_and_none() {
        let plan = ProbePlan {
            count: 5,
            interval_ms: 60_000,
            timeout_ms: 10,
        };
        let stop = Stop::new();
        let all = GatewayTest::None.run(&plan, &stop).unwrap();
        assert_eq!((all.ok, all.total), (5, 5));
        let unusable = GatewayTest::Unusable("no gateway".into());
        assert_eq!(unusable.run(&plan, &stop), Err("no gateway".into()));
        let dash = GatewayTest::Ping {
            gateway: "-f".into(),
        };
        assert!(dash.run(&plan, &stop).is_err());
    }
}
