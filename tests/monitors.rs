//! Integration tests of the monitors against real sockets, real child processes
//! and stand-in `/proc` and `/sys` trees: the liveliness check against an HTTP
//! server on loopback, every gateway test, the bridge, the CPU load without the
//! VM, free memory, and a whole `MonitorSet` that starts, reports and stops
//! promptly even while its measurements hang.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hosted_engine::config::{ConfFile, HostedEngineConf, Timings};
use hosted_engine::shell::monitors::{
    CpuLoad, DnsServers, EchoSocket, GatewayTest, MonitorConfig, MonitorSet, Pinger, ProbePlan,
    Stop, VmPid, bridge_up, check_liveliness, check_runnable, free_memory_mib, read_host_times,
    read_process_times,
};

const HEALTHY: &str = "DB Up!Welcome to Health Status!";

/// An HTTP-ish server on loopback that answers every connection with `answer`
/// (after reading the request head) until dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn answering(answer: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => answer_one(stream, &answer),
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn fqdn(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn answer_one(mut stream: TcpStream, answer: &[u8]) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    assert!(
        head.starts_with("GET /ovirt-engine/services/health HTTP/1."),
        "{head}"
    );
    let _ = stream.write_all(answer);
    let _ = stream.shutdown(Shutdown::Both);
}

fn http(status: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}")
        .into_bytes()
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---- liveliness ----

#[test]
fn liveliness_healthy_engine() {
    let server = Server::answering(http("200 OK", &format!("{HEALTHY}\n")));
    assert_eq!(check_liveliness(&server.fqdn(), 5_000), Ok(true));
    // By name, through the resolver thread.
    let by_name = format!("localhost:{}", server.port);
    assert_eq!(check_liveliness(&by_name, 5_000), Ok(true));
}

#[test]
fn liveliness_other_bodies_are_not_healthy() {
    let server = Server::answering(http("200 OK", "DB Down!Sorry\n"));
    assert_eq!(check_liveliness(&server.fqdn(), 5_000), Ok(false));
    // The marker on the second line does not count.
    let server = Server::answering(http("200 OK", "Welcome\nDB Up!\n"));
    assert_eq!(check_liveliness(&server.fqdn(), 5_000), Ok(false));
    // Only the body matters, not the status code (as in the reference).
    let server = Server::answering(http("503 Service Unavailable", HEALTHY));
    assert_eq!(check_liveliness(&server.fqdn(), 5_000), Ok(true));
}

#[test]
fn liveliness_chunked_body() {
    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                   6\r\nDB Up!\r\n19\r\nWelcome to Health Status!\r\n0\r\n\r\n"
        .to_vec();
    let server = Server::answering(answer);
    assert_eq!(check_liveliness(&server.fqdn(), 5_000), Ok(true));
}

#[test]
fn liveliness_non_http_answer_is_not_up() {
    let server = Server::answering(format!("{HEALTHY}\r\n").into_bytes());
    let result = check_liveliness(&server.fqdn(), 5_000);
    let error = result.unwrap_err();
    assert!(error.contains("not an HTTP answer"), "{error}");
}

#[test]
fn liveliness_silent_server_times_out() {
    // Bound but never accepting: the kernel completes the handshake, nobody answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fqdn = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
    let timeout_ms = 500;
    let started = Instant::now();
    let result = check_liveliness(&fqdn, timeout_ms);
    let took = started.elapsed();
    assert!(result.is_err(), "{result:?}");
    assert!(result.unwrap_err().contains("in time"));
    assert!(took >= Duration::from_millis(timeout_ms), "{took:?}");
    assert!(took < Duration::from_millis(timeout_ms + 2_000), "{took:?}");
}

#[test]
fn liveliness_connection_refused() {
    let fqdn = format!("127.0.0.1:{}", closed_port());
    let error = check_liveliness(&fqdn, 5_000).unwrap_err();
    assert!(error.contains("connection refused"), "{error}");
    assert!(error.starts_with("127.0.0.1:"), "{error}");
}

#[test]
fn liveliness_unusable_fqdn() {
    for fqdn in ["", "engine:0", "engine:http", "[::1"] {
        assert!(check_liveliness(fqdn, 1_000).is_err(), "{fqdn:?}");
    }
}

// ---- gateway ----

fn plan(count: u32) -> ProbePlan {
    ProbePlan {
        count,
        interval_ms: 10,
        timeout_ms: 1_000,
    }
}

#[test]
fn tcp_gateway_test() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = GatewayTest::Tcp {
        address: "127.0.0.1".into(),
        port: listener.local_addr().unwrap().port(),
    };
    let report = open.run(&plan(5), &Stop::new()).unwrap();
    assert_eq!((report.ok, report.total, report.last_failure), (5, 5, None));

    let closed = GatewayTest::Tcp {
        address: "127.0.0.1".into(),
        port: closed_port(),
    };
    let report = closed.run(&plan(5), &Stop::new()).unwrap();
    assert_eq!((report.ok, report.total), (0, 5));
    assert!(report.last_failure.unwrap().contains("refused"));
}

#[test]
fn none_gateway_test_always_succeeds() {
    let report = GatewayTest::None.run(&plan(5), &Stop::new()).unwrap();
    assert_eq!((report.ok, report.total), (5, 5));
}

/// Whether this process may open an ICMP socket (root, or a group in
/// `net.ipv4.ping_group_range`).
fn may_ping() -> bool {
    Pinger::open(IpAddr::from([127, 0, 0, 1])).is_ok()
}

/// Issue 16: the gateway test needs no `ping` program: its echoes go out
/// through an ICMP socket, to IPv4 and IPv6 loopback.
#[test]
fn ping_gateway_test_on_loopback() {
    if !common::require(
        "root or net.ipv4.ping_group_range (to open an ICMP socket)",
        may_ping(),
    ) {
        return;
    }
    for gateway in ["127.0.0.1", "::1", "localhost", "::1%lo"] {
        let test = GatewayTest::Ping {
            gateway: gateway.into(),
        };
        let report = test.run(&plan(5), &Stop::new()).unwrap();
        assert_eq!(report.ok, 5, "{gateway}: {report:?}");
    }
}

/// A gateway that does not answer fails each probe within its timeout.
#[test]
fn a_silent_gateway_fails_each_probe_in_time() {
    if !common::require(
        "root or net.ipv4.ping_group_range (to open an ICMP socket)",
        may_ping(),
    ) {
        return;
    }
    // TEST-NET-2: no one answers (or the network says it is unreachable).
    let test = GatewayTest::Ping {
        gateway: "198.51.100.1".into(),
    };
    let plan = ProbePlan {
        count: 2,
        interval_ms: 10,
        timeout_ms: 300,
    };
    let started = Instant::now();
    let report = test.run(&plan, &Stop::new()).unwrap();
    let took = started.elapsed();
    assert_eq!((report.ok, report.total), (0, 2));
    assert!(
        report
            .last_failure
            .unwrap()
            .starts_with("ping 198.51.100.1: ")
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
}

/// The variable that makes `icmp_child` run (in a network namespace of its
/// own): which socket kind to ping loopback with.
const ICMP_CHILD_VAR: &str = "HE_MONITORS_ICMP_CHILD";

/// Not a test: run by `both_kinds_of_icmp_socket_ping` in a new network
/// namespace, where it brings loopback up, lets group 0 open ping sockets
/// (the setting is the namespace's), and pings 127.0.0.1 and ::1 with the
/// socket kind it is given. Prints `RESULT <outcome>`.
#[test]
#[ignore = "helper run by both_kinds_of_icmp_socket_ping"]
fn icmp_child() {
    let Ok(kind) = std::env::var(ICMP_CHILD_VAR) else {
        return;
    };
    let kind = match kind.as_str() {
        "datagram" => EchoSocket::Datagram,
        _ => EchoSocket::Raw,
    };
    loopback_up();
    fs::write("/proc/sys/net/ipv4/ping_group_range", "0 0\n").unwrap();
    for target in [IpAddr::from([127, 0, 0, 1]), "::1".parse().unwrap()] {
        let pinger = Pinger::open_kind(target, kind).unwrap();
        for seq in 0..3 {
            let deadline = Instant::now() + Duration::from_secs(2);
            pinger
                .echo(SocketAddr::new(target, 0), seq, deadline, &Stop::new())
                .unwrap();
        }
    }
    println!("RESULT {kind:?} ok");
}

/// Brings `lo` up in this process's network namespace.
fn loopback_up() {
    // SAFETY: plain ioctls on a socket of our own with a zeroed ifreq
    // naming "lo"; every result is checked.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0);
        let mut request: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            request.ifr_name[i] = *b as libc::c_char;
        }
        assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS, &raw mut request), 0);
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &raw mut request), 0);
        libc::close(fd);
    }
}

/// Both kinds of ICMP socket really ping: a datagram ("ping") socket, as an
/// agent not running as root uses where `net.ipv4.ping_group_range` allows,
/// and a raw one, as root's, which must pick its own reply out of every ICMP
/// message the host gets. Each in a network namespace of its own.
#[test]
fn both_kinds_of_icmp_socket_ping() {
    // SAFETY: geteuid has no preconditions.
    if !common::require(
        "root (for a network namespace)",
        unsafe { libc::geteuid() } == 0,
    ) {
        return;
    }
    for kind in ["datagram", "raw"] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", "icmp_child", "--ignored", "--nocapture"])
            .env(ICMP_CHILD_VAR, kind);
        // SAFETY: unshare is async-signal-safe; nothing else runs in the child.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut child, || {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = child.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("RESULT"),
            "{kind}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A process that may open no ICMP socket cannot run the test, and says
/// why: `--check-config` reports it, the monitor has no result.
#[test]
fn without_an_icmp_socket_the_ping_test_cannot_run() {
    // SAFETY: geteuid has no preconditions.
    if !common::require(
        "root (to run a child as uid 65534)",
        unsafe { libc::geteuid() } == 0,
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = common::as_nobody(dir.path(), "unprivileged_ping_child")
        .env(ICMP_CHILD_VAR, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("{stdout}{}", String::from_utf8_lossy(&out.stderr)));
    // Group 0 (the child keeps it) may open ping sockets where the range
    // says so.
    let range = fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let mut bounds = range.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    let (low, high) = (bounds.next().unwrap(), bounds.next().unwrap());
    if low == 0 && high >= low {
        assert_eq!(result, "runnable");
    } else {
        assert!(
            result.contains("cannot send an ICMP echo")
                && result.contains("ping_group_range")
                && result.contains("CAP_NET_RAW"),
            "{result}"
        );
    }
}

/// Not a test: run as uid 65534 by
/// `without_an_icmp_socket_the_ping_test_cannot_run`.
#[test]
#[ignore = "helper run by without_an_icmp_socket_the_ping_test_cannot_run"]
fn unprivileged_ping_child() {
    if std::env::var_os(ICMP_CHILD_VAR).is_none() {
        return;
    }
    let test = GatewayTest::Ping {
        gateway: "127.0.0.1".into(),
    };
    match check_runnable(&test) {
        Ok(()) => println!("RESULT runnable"),
        Err(why) => {
            let ran = test.run(&plan(1), &Stop::new());
            assert_eq!(ran, Err(why.clone()), "the monitor has no result");
            println!("RESULT {why}");
        }
    }
}

/// A DNS-over-TCP server that answers every query with an empty SERVFAIL.
fn dns_server() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = thread::spawn(move || {
        for _ in 0..5 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut query = [0u8; 19];
            stream.read_exact(&mut query).unwrap();
            assert_eq!(&query[..2], &[0, 17]);
            let mut answer = query;
            answer[4] |= 0x80;
            answer[5] |= 0x02;
            stream.write_all(&answer).unwrap();
        }
    });
    (addr, thread)
}

#[test]
fn dns_gateway_test() {
    let (addr, server) = dns_server();
    let dead = SocketAddr::from(([127, 0, 0, 1], closed_port()));
    // The first server refuses; the second answers every probe.
    let test = GatewayTest::Dns {
        servers: DnsServers::Fixed(vec![dead, addr]),
    };
    let report = test.run(&plan(5), &Stop::new()).unwrap();
    assert_eq!((report.ok, report.last_failure), (5, None));
    server.join().unwrap();

    let nobody = GatewayTest::Dns {
        servers: DnsServers::Fixed(vec![dead]),
    };
    let report = nobody.run(&plan(5), &Stop::new()).unwrap();
    assert_eq!(report.ok, 0);
    assert!(report.last_failure.unwrap().starts_with("dns: "));
}

#[test]
fn dns_servers_come_from_resolv_conf() {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    // TEST-NET-1 is not routed: the probe times out rather than being refused.
    fs::write(&resolv, "nameserver 192.0.2.53\n").unwrap();
    let test = GatewayTest::Dns {
        servers: DnsServers::ResolvConf(resolv),
    };
    let quick = ProbePlan {
        count: 1,
        interval_ms: 0,
        timeout_ms: 200,
    };
    let started = Instant::now();
    let report = test.run(&quick, &Stop::new()).unwrap();
    assert_eq!(report.ok, 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(report.last_failure.unwrap().contains("192.0.2.53:53"));
}

#[test]
fn gateway_test_from_the_configuration() {
    let conf = |extra: &str| {
        let text = format!("fqdn=engine.lab\nhost_id=1\nstorage=/srv/he\ndomainType=dir\n{extra}");
        HostedEngineConf::parse(Path::new("hosted-engine.conf"), &text).unwrap()
    };
    assert_eq!(
        GatewayTest::from_conf(&conf("gateway=10.0.0.1\n")),
        GatewayTest::Ping {
            gateway: "10.0.0.1".into(),
        }
    );
    let tcp = conf("network_test=tcp\ntcp_t_address=10.0.0.9\ntcp_t_port=443\n");
    assert_eq!(
        GatewayTest::from_conf(&tcp),
        GatewayTest::Tcp {
            address: "10.0.0.9".into(),
            port: 443
        }
    );
    let dns = GatewayTest::from_conf(&conf("network_test=dns\n"));
    assert_eq!(
        dns,
        GatewayTest::Dns {
            servers: DnsServers::ResolvConf("/etc/resolv.conf".into())
        }
    );
    let none = conf("network_test=none\nbridge=br0\n");
    assert_eq!(GatewayTest::from_conf(&none), GatewayTest::None);
    let config = MonitorConfig::new(&none, &Timings::reference());
    assert_eq!(config.fqdn, "engine.lab");
    assert_eq!(config.bridge, "br0");
    assert_eq!((config.probes.count, config.probes.interval_ms), (5, 500));
    assert_eq!(config.interval_ms, 10_000);
    assert_eq!(config.liveliness_timeout_ms, 20_000);
    config.validate().unwrap();
}

// ---- bridge ----

fn write_operstate(sys: &Path, bridge: &str, state: &str) {
    let dir = sys.join("class/net").join(bridge);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("operstate"), state).unwrap();
}

#[test]
fn bridge_state_from_sysfs() {
    let sys = tempfile::tempdir().unwrap();
    write_operstate(sys.path(), "ovirtmgmt", "up\n");
    write_operstate(sys.path(), "br-down", "down\n");
    write_operstate(sys.path(), "dummy0", "unknown\n");
    write_operstate(sys.path(), "br-junk", "sideways\n");
    assert_eq!(bridge_up(sys.path(), "ovirtmgmt"), Ok(true));
    assert_eq!(bridge_up(sys.path(), "br-down"), Ok(false));
    // The reference accepts "up" only.
    assert_eq!(bridge_up(sys.path(), "dummy0"), Ok(false));
    assert_eq!(bridge_up(sys.path(), "missing"), Ok(false));
    let error = bridge_up(sys.path(), "br-junk").unwrap_err();
    assert!(error.contains("unexpected state"), "{error}");
    assert!(bridge_up(sys.path(), "../../etc").is_err());
}

#[test]
fn loopback_in_the_real_sysfs_is_not_a_bridge_that_is_up() {
    // lo reports "unknown": present and readable, but not "up".
    if Path::new("/sys/class/net/lo/operstate").exists() {
        assert_eq!(bridge_up(Path::new("/sys"), "lo"), Ok(false));
    }
}

// ---- CPU load ----

/// Writes `/proc/stat` (aggregate line only: user, nice, system, idle, iowait,
/// irq, softirq, steal, guest, guest_nice) atomically, as the kernel would
/// present it.
fn write_stat(proc: &Path, busy: u64, idle: u64) {
    let text = format!(
        "cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {busy} 0 0 {idle} 0 0 0 0 0 0\nintr 1 2 3\n"
    );
    write_atomic(&proc.join("stat"), &text);
}

fn write_pid_stat(proc: &Path, pid: u32, busy: u64, start_time: u64) {
    let utime = busy / 2;
    let stime = busy - utime;
    let text = format!(
        "{pid} (qemu-kvm) S 1 {pid} {pid} 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 4 0 {start_time} 1 2 3\n"
    );
    fs::create_dir_all(proc.join(pid.to_string())).unwrap();
    write_atomic(&proc.join(pid.to_string()).join("stat"), &text);
}

fn write_atomic(path: &Path, text: &str) {
    let temp = path.with_extension("tmp");
    fs::write(&temp, text).unwrap();
    fs::rename(&temp, path).unwrap();
}

#[test]
fn cpu_load_without_the_vm_from_proc_samples() {
    let proc = tempfile::tempdir().unwrap();
    let proc = proc.path();
    let mut load = CpuLoad::new(3);
    let sample = |load: &mut CpuLoad, pid: Option<u32>| {
        let host = read_host_times(proc).unwrap();
        let vm = pid.and_then(|pid| read_process_times(proc, pid).unwrap());
        load.add(host, vm)
    };
    write_stat(proc, 1_000, 9_000);
    write_pid_stat(proc, 4242, 500, 77);
    assert_eq!(sample(&mut load, Some(4242)), None);
    // 1000 ticks: 600 busy, 400 of them the VM's -> 0.2.
    write_stat(proc, 1_600, 9_400);
    write_pid_stat(proc, 4242, 900, 77);
    assert_close(sample(&mut load, Some(4242)), 0.2);
    // 1000 more: 800 busy, VM 100 -> (200 + 700) / 2000.
    write_stat(proc, 2_400, 9_600);
    write_pid_stat(proc, 4242, 1_000, 77);
    assert_close(sample(&mut load, Some(4242)), 0.45);
    // The VM is gone: nothing to subtract; 1000 ticks, 500 busy.
    fs::remove_dir_all(proc.join("4242")).unwrap();
    write_stat(proc, 2_900, 10_100);
    assert_close(
        sample(&mut load, Some(4242)),
        (200.0 + 700.0 + 500.0) / 3000.0,
    );
    // No VM on this host at all; the oldest interval drops out of the window.
    write_stat(proc, 3_900, 10_100);
    assert_close(sample(&mut load, None), (700.0 + 500.0 + 1000.0) / 3000.0);
}

#[test]
fn malformed_proc_files_are_errors_not_panics() {
    let proc = tempfile::tempdir().unwrap();
    let proc = proc.path();
    assert!(read_host_times(proc).is_err());
    fs::write(proc.join("stat"), "cpu garbage\n").unwrap();
    let error = read_host_times(proc).unwrap_err();
    assert!(error.contains("malformed cpu line"), "{error}");
    assert_eq!(read_process_times(proc, 99), Ok(None));
    fs::create_dir_all(proc.join("99")).unwrap();
    fs::write(proc.join("99/stat"), "99 (x) S 1\n").unwrap();
    assert!(read_process_times(proc, 99).is_err());
}

#[test]
fn cpu_load_of_the_real_host_is_a_fraction() {
    let root = Path::new("/proc");
    let mut load = CpuLoad::new(5);
    load.add(read_host_times(root).unwrap(), None);
    let own = read_process_times(root, std::process::id()).unwrap();
    assert!(own.is_some());
    thread::sleep(Duration::from_millis(50));
    // Jiffies are coarse: a short interval may not have ticked at all.
    if let Some(value) = load.add(read_host_times(root).unwrap(), None) {
        assert!((0.0..=1.0).contains(&value), "{value}");
    }
}

fn assert_close(value: Option<f64>, expected: f64) {
    let value = value.expect("a load");
    assert!((value - expected).abs() < 1e-9, "{value} != {expected}");
}

// ---- free memory ----

#[test]
fn free_memory_from_meminfo() {
    let proc = tempfile::tempdir().unwrap();
    let proc = proc.path();
    assert!(free_memory_mib(proc).is_err(), "no file");
    let meminfo = proc.join("meminfo");
    fs::write(&meminfo, "MemTotal: 8000000 kB\nMemFree: 1024 kB\nMemAvailable: 2097152 kB\nBuffers: 0 kB\nCached: 0 kB\n").unwrap();
    assert_eq!(free_memory_mib(proc), Ok(2048));
    fs::write(
        &meminfo,
        "MemTotal: 8000000 kB\nMemFree: 1048576 kB\nBuffers: 524288 kB\nCached: 524288 kB\n",
    )
    .unwrap();
    assert_eq!(free_memory_mib(proc), Ok(2048));
    fs::write(&meminfo, "MemAvailable: many kB\n").unwrap();
    let error = free_memory_mib(proc).unwrap_err();
    assert!(error.contains("malformed MemAvailable line"), "{error}");
    assert!(free_memory_mib(Path::new("/proc")).unwrap() > 0);
}

// ---- the set ----

fn fast_config(fqdn: String, gateway_test: GatewayTest, sys: &Path, proc: &Path) -> MonitorConfig {
    MonitorConfig {
        fqdn,
        gateway_test,
        probes: ProbePlan {
            count: 5,
            interval_ms: 5,
            timeout_ms: 1_000,
        },
        bridge: "ovirtmgmt".into(),
        proc_root: proc.into(),
        sys_root: sys.into(),
        interval_ms: 40,
        liveliness_timeout_ms: 2_000,
        stale_loops: 3,
        cpu_window: 5,
    }
}

/// Polls `set` until `done` holds, for at most 10 s.
fn wait_for(set: &MonitorSet, done: impl Fn(&MonitorSet) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(set) {
        assert!(
            Instant::now() < deadline,
            "sensors {:?}, errors {:?}",
            set.sensors(),
            set.errors()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn drop_quickly(set: MonitorSet) {
    let started = Instant::now();
    drop(set);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "drop took {took:?}");
}

#[test]
fn monitor_set_reports_every_sensor_and_stops_quickly() {
    let server = Server::answering(http("200 OK", HEALTHY));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let gateway = GatewayTest::Tcp {
        address: "127.0.0.1".into(),
        port: listener.local_addr().unwrap().port(),
    };
    let sys = tempfile::tempdir().unwrap();
    write_operstate(sys.path(), "ovirtmgmt", "up\n");
    let proc = tempfile::tempdir().unwrap();
    let proc_path = proc.path().to_path_buf();
    fs::write(proc_path.join("meminfo"), "MemAvailable: 4194304 kB\n").unwrap();
    write_stat(&proc_path, 0, 0);
    write_pid_stat(&proc_path, 4242, 0, 1);

    // The host's counters advance: 100 ticks per step, 50 busy, 20 of them the VM's.
    let ticking = Arc::new(AtomicBool::new(true));
    let ticker = {
        let (ticking, proc) = (Arc::clone(&ticking), proc_path.clone());
        thread::spawn(move || {
            let mut step = 0;
            while ticking.load(Ordering::SeqCst) {
                step += 1;
                // The VM's file first: the monitor reads the host's first, so
                // both come from the same step unless a step falls between them.
                write_pid_stat(&proc, 4242, 20 * step, 1);
                write_stat(&proc, 50 * step, 50 * step);
                thread::sleep(Duration::from_millis(15));
            }
        })
    };
    let asked = Arc::new(AtomicU64::new(0));
    let vm_pid: VmPid = {
        let asked = Arc::clone(&asked);
        Arc::new(move || {
            asked.fetch_add(1, Ordering::SeqCst);
            Some(4242)
        })
    };
    let config = fast_config(server.fqdn(), gateway, sys.path(), &proc_path);
    let set = MonitorSet::start(config, vm_pid).unwrap();
    wait_for(&set, |set| {
        let s = set.sensors();
        s.liveliness_ok.is_some() && s.gateway_probes_ok.is_some() && s.cpu_load.is_some()
    });
    let sensors = set.sensors();
    assert_eq!(sensors.liveliness_ok, Some(true));
    assert_eq!(sensors.gateway_probes_ok, Some(5));
    assert_eq!(sensors.bridge_up, Some(true));
    assert_eq!(sensors.free_memory_mib, Some(4096));
    // 0.3, up to a step between the monitor's two reads.
    let cpu = sensors.cpu_load.unwrap();
    assert!((0.2..=0.4).contains(&cpu), "{cpu}");
    assert_eq!(set.errors(), Vec::<(&str, String)>::new());
    assert!(asked.load(Ordering::SeqCst) >= 2);

    // The bridge goes down: the next measurement says so.
    write_operstate(sys.path(), "ovirtmgmt", "down\n");
    wait_for(&set, |set| set.sensors().bridge_up == Some(false));

    drop_quickly(set);
    ticking.store(false, Ordering::SeqCst);
    ticker.join().unwrap();
}

#[test]
fn monitor_set_failures_are_values_with_reasons() {
    let sys = tempfile::tempdir().unwrap();
    let proc = tempfile::tempdir().unwrap();
    fs::write(proc.path().join("meminfo"), "MemAvailable: broken kB\n").unwrap();
    let refused = format!("127.0.0.1:{}", closed_port());
    let gateway = GatewayTest::Tcp {
        address: "127.0.0.1".into(),
        port: closed_port(),
    };
    let config = fast_config(refused, gateway, sys.path(), proc.path());
    let set = MonitorSet::start(config, Arc::new(|| None)).unwrap();
    wait_for(&set, |set| {
        let s = set.sensors();
        s.liveliness_ok.is_some() && s.gateway_probes_ok.is_some() && s.bridge_up.is_some()
    });
    let sensors = set.sensors();
    // Unreachable engine: not live. Every probe refused: 0 of 5. No bridge: down.
    assert_eq!(sensors.liveliness_ok, Some(false));
    assert_eq!(sensors.gateway_probes_ok, Some(0));
    assert_eq!(sensors.bridge_up, Some(false));
    // Unreadable sources: no value.
    assert_eq!(sensors.cpu_load, None);
    assert_eq!(sensors.free_memory_mib, None);
    let errors = set.errors();
    let names: Vec<&str> = errors.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["liveliness", "gateway", "cpu-load", "free-memory"]);
    assert!(errors[0].1.contains("connection refused"), "{errors:?}");
    assert!(
        errors[1].1.starts_with("5 of 5 probes failed"),
        "{errors:?}"
    );
    assert!(errors[3].1.contains("malformed MemAvailable"), "{errors:?}");
    drop_quickly(set);
}

/// After `engine_starting` (the agent is about to start the engine VM), the
/// liveliness reading of the VM before it (here: healthy) no longer counts:
/// no value until a measurement that began after the start, then that one.
#[test]
fn liveliness_from_before_an_engine_start_is_no_reading() {
    let server = Server::answering(http("200 OK", HEALTHY));
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config(server.fqdn(), GatewayTest::None, dir.path(), dir.path());
    // Long enough that the next measurement cannot begin between the
    // start and the look right after it.
    config.interval_ms = 1_000;
    let set = MonitorSet::start(config, Arc::new(|| None)).unwrap();
    wait_for(&set, |set| set.sensors().liveliness_ok == Some(true));
    set.engine_starting();
    assert_eq!(set.sensors().liveliness_ok, None);
    let errors = set.errors();
    assert!(
        errors
            .iter()
            .any(|(name, why)| *name == "liveliness" && why.contains("since the engine VM's start")),
        "{errors:?}"
    );
    wait_for(&set, |set| set.sensors().liveliness_ok == Some(true));
    drop_quickly(set);
}

#[test]
fn monitor_set_stops_promptly_while_measurements_hang() {
    // The engine accepts but never answers; the gateway's DNS server too;
    // both far beyond 2 s.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let fqdn = format!("127.0.0.1:{}", silent.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    let gateway = GatewayTest::Dns {
        servers: DnsServers::Fixed(vec![silent.local_addr().unwrap()]),
    };
    let mut config = fast_config(fqdn, gateway, dir.path(), Path::new("/proc"));
    config.liveliness_timeout_ms = 60_000;
    config.probes.timeout_ms = 30_000;
    let set = MonitorSet::start(config, Arc::new(|| None)).unwrap();
    wait_for(&set, |set| set.sensors().free_memory_mib.is_some());
    thread::sleep(Duration::from_millis(200));
    let sensors = set.sensors();
    assert_eq!(sensors.liveliness_ok, None, "still waiting for the engine");
    assert_eq!(
        sensors.gateway_probes_ok, None,
        "still waiting for the DNS answer"
    );
    drop_quickly(set);
}

#[test]
fn monitor_set_refuses_a_broken_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config("engine".into(), GatewayTest::None, dir.path(), dir.path());
    config.interval_ms = 0;
    config.probes.count = 1_000;
    let error = MonitorSet::start(config, Arc::new(|| None))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("interval_ms is 0"), "{error}");
    assert!(error.contains("probe count is 1000"), "{error}");
}
