//! `--isolation none`: the lab's network on loopback addresses, run by the
//! supervisor without root.
//!
//! Every host has, on `127.<a>.<b>.0/24` and one port:
//! - `.N`: its view of the engine (the agents' `fqdn`), a relay that forwards a
//!   connection to the engine payload wherever it runs (`.100+M` when it runs on
//!   host M), provided the network allows it: both hosts' networks up, both on
//!   the same side of a partition. Otherwise the connection is held without an
//!   answer until the client gives up, as a dead network would do;
//! - `.50+N`: its gateway, a listener the agents' `tcp` network test connects
//!   to; closed (connection refused) while the host's network is down or the
//!   host is cut off by a partition.
//!
//! What differs from real networks: the agents and payloads share the machine's
//! network stack, so only the paths the lab relays can fail (engine health and
//! gateway); the management bridge cannot go down (every host checks the same
//! interface), and a dead path is a refused or unanswered connection, not lost
//! packets.

use std::collections::BTreeSet;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// How often listeners are reconciled and polled.
const POLL: Duration = Duration::from_millis(10);
/// How long a connection over a dead path is held before it is dropped.
const HOLD: Duration = Duration::from_secs(30);
/// Most connections held at once (the oldest goes first).
const HELD_MAX: usize = 64;
/// Most relayed connections at once.
const RELAYS_MAX: usize = 64;
/// Bound on one relay's connect to a payload.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Bound on a relayed connection's silence.
const RELAY_IDLE: Duration = Duration::from_secs(30);

/// What the network allows, shared between the supervisor and the relay thread.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetState {
    /// Hosts whose network is down.
    pub down: BTreeSet<u16>,
    /// Hosts powered off.
    pub off: BTreeSet<u16>,
    /// Hosts cut off from the rest and from the gateway.
    pub partition: BTreeSet<u16>,
}

impl NetState {
    fn up(&self, host: u16) -> bool {
        !self.down.contains(&host) && !self.off.contains(&host)
    }

    /// Whether host `host` reaches its gateway.
    pub fn gateway_ok(&self, host: u16) -> bool {
        self.up(host) && !self.partition.contains(&host)
    }

    /// Whether host `from` reaches a VM bridged on host `to`.
    pub fn reaches(&self, from: u16, to: u16) -> bool {
        self.up(from)
            && self.up(to)
            && self.partition.contains(&from) == self.partition.contains(&to)
    }
}

/// The addresses of one lab.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub prefix: [u8; 2],
    pub port: u16,
    pub hosts: u16,
}

impl Plan {
    fn addr(&self, last: u32) -> SocketAddr {
        let [a, b] = self.prefix;
        let last = u8::try_from(last).expect("host ids keep addresses below 256");
        SocketAddr::from(([127, a, b, last], self.port))
    }
    pub fn relay(&self, host: u16) -> SocketAddr {
        self.addr(u32::from(host))
    }
    pub fn gateway(&self, host: u16) -> SocketAddr {
        self.addr(50 + u32::from(host))
    }
    pub fn payload(&self, host: u16) -> SocketAddr {
        self.addr(100 + u32::from(host))
    }

    /// Every address the lab itself listens on or its payloads will.
    pub fn all(&self) -> Vec<SocketAddr> {
        (1..=self.hosts)
            .flat_map(|h| [self.relay(h), self.gateway(h), self.payload(h)])
            .collect()
    }
}

/// Whether every address of `plan` can be bound now.
pub fn plan_is_free(plan: &Plan) -> bool {
    let held: Result<Vec<TcpListener>, _> = plan.all().into_iter().map(TcpListener::bind).collect();
    held.is_ok()
}

/// The running network: a thread that owns the listeners.
pub struct LoopNet {
    state: Arc<Mutex<NetState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LoopNet {
    pub fn start(plan: Plan) -> io::Result<LoopNet> {
        let state = Arc::new(Mutex::new(NetState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&state), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("loopnet".into())
            .spawn(move || Relay::new(plan, s).run(&st))?;
        Ok(LoopNet {
            state,
            stop,
            thread: Some(thread),
        })
    }

    /// Changes what the network allows.
    pub fn update(&self, change: impl FnOnce(&mut NetState)) {
        change(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub fn state(&self) -> NetState {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for LoopNet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The relay thread's state.
struct Relay {
    plan: Plan,
    state: Arc<Mutex<NetState>>,
    gateways: Vec<Option<TcpListener>>,
    relays: Vec<Option<TcpListener>>,
    held: Vec<(Instant, TcpStream)>,
    busy: Arc<AtomicUsize>,
    /// Addresses that would not bind, each reported once.
    reported: BTreeSet<SocketAddr>,
}

impl Relay {
    fn new(plan: Plan, state: Arc<Mutex<NetState>>) -> Relay {
        let n = usize::from(plan.hosts);
        Relay {
            plan,
            state,
            gateways: (0..n).map(|_| None).collect(),
            relays: (0..n).map(|_| None).collect(),
            held: Vec::new(),
            busy: Arc::new(AtomicUsize::new(0)),
            reported: BTreeSet::new(),
        }
    }

    fn run(mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::SeqCst) {
            let state = self
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            for host in 1..=self.plan.hosts {
                self.poll_gateway(host, state.gateway_ok(host));
                self.poll_relay(host, &state);
            }
            let now = Instant::now();
            self.held
                .retain(|(since, _)| now.duration_since(*since) < HOLD);
            std::thread::sleep(POLL);
        }
    }

    fn ensure_listener(
        slot: &mut Option<TcpListener>,
        addr: SocketAddr,
        reported: &mut BTreeSet<SocketAddr>,
    ) {
        if slot.is_some() {
            return;
        }
        match TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(listener) => *slot = Some(listener),
            Err(e) => {
                if reported.insert(addr) {
                    eprintln!("he-lab supervisor: cannot listen on {addr}: {e}");
                }
            }
        }
    }

    /// The gateway accepts (and closes) while the host reaches it; otherwise
    /// it does not listen.
    fn poll_gateway(&mut self, host: u16, open: bool) {
        let slot = &mut self.gateways[usize::from(host - 1)];
        if !open {
            *slot = None;
            return;
        }
        Self::ensure_listener(slot, self.plan.gateway(host), &mut self.reported);
        if let Some(listener) = slot {
            while let Ok((stream, _)) = listener.accept() {
                drop(stream);
            }
        }
    }

    /// The host's view of the engine: relayed, held, or not listening at all
    /// (the host is off).
    fn poll_relay(&mut self, host: u16, state: &NetState) {
        let slot = &mut self.relays[usize::from(host - 1)];
        if state.off.contains(&host) {
            *slot = None;
            return;
        }
        Self::ensure_listener(slot, self.plan.relay(host), &mut self.reported);
        let Some(listener) = slot else { return };
        while let Ok((client, _)) = listener.accept() {
            let targets: Vec<SocketAddr> = (1..=self.plan.hosts)
                .filter(|&to| state.reaches(host, to))
                .map(|to| self.plan.payload(to))
                .collect();
            if targets.is_empty() || self.busy.load(Ordering::SeqCst) >= RELAYS_MAX {
                if self.held.len() >= HELD_MAX {
                    self.held.remove(0);
                }
                self.held.push((Instant::now(), client));
                continue;
            }
            self.busy.fetch_add(1, Ordering::SeqCst);
            let busy = Arc::clone(&self.busy);
            std::thread::spawn(move || {
                relay(client, &targets);
                busy.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
}

/// Connects `client` to the first target that accepts and copies both ways.
/// No payload listening anywhere reachable: the client waits for nothing until
/// [`HOLD`], as with an address nobody answers for.
fn relay(client: TcpStream, targets: &[SocketAddr]) {
    let upstream = targets
        .iter()
        .find_map(|addr| TcpStream::connect_timeout(addr, CONNECT_TIMEOUT).ok());
    let Some(upstream) = upstream else {
        let _ = client.set_read_timeout(Some(HOLD));
        let mut sink = [0u8; 1024];
        // Read (and discard) until the client gives up or HOLD passes.
        while matches!(io::Read::read(&mut &client, &mut sink), Ok(n) if n > 0) {}
        return;
    };
    let _ = client.set_nonblocking(false);
    for s in [&client, &upstream] {
        let _ = s.set_read_timeout(Some(RELAY_IDLE));
        let _ = s.set_write_timeout(Some(RELAY_IDLE));
    }
    let (Ok(client_r), Ok(upstream_w)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let forward = std::thread::spawn(move || {
        let _ = io::copy(&mut &client_r, &mut &upstream_w);
        let _ = upstream_w.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut &upstream, &mut &client);
    let _ = client.shutdown(Shutdown::Both);
    let _ = upstream.shutdown(Shutdown::Both);
    let _ = forward.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_follows_links_power_and_partitions() {
        let mut s = NetState::default();
        assert!(s.reaches(1, 2) && s.gateway_ok(1));
        s.down.insert(2);
        assert!(!s.reaches(1, 2) && !s.reaches(2, 2) && !s.gateway_ok(2));
        s.down.clear();
        s.partition.insert(3);
        assert!(s.reaches(3, 3) && !s.reaches(1, 3) && !s.gateway_ok(3));
        assert!(s.gateway_ok(1));
        s.off.insert(1);
        assert!(!s.reaches(1, 1));
    }

    #[test]
    fn the_relay_forwards_to_a_reachable_payload_and_holds_otherwise() {
        let plan = Plan {
            prefix: [126, 250],
            port: free_port(),
            hosts: 2,
        };
        let net = LoopNet::start(plan).unwrap();
        let payload = TcpListener::bind(plan.payload(2)).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = payload.accept().unwrap();
            io::Write::write_all(&mut s, b"pong").unwrap();
        });
        let answer = read_via(plan.relay(1));
        assert_eq!(answer.as_deref(), Some("pong"));
        server.join().unwrap();
        net.update(|s| {
            s.down.insert(2);
        });
        // Nothing reachable: connected, but no answer within the wait.
        assert_eq!(read_via(plan.relay(1)), None);
        // The gateway of a host whose network is down refuses.
        std::thread::sleep(Duration::from_millis(100));
        assert!(TcpStream::connect(plan.gateway(2)).is_err());
        assert!(TcpStream::connect(plan.gateway(1)).is_ok());
    }

    fn read_via(addr: SocketAddr) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let stream = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(POLL),
                Err(e) => panic!("{addr}: {e}"),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut text = String::new();
        match io::Read::read_to_string(&mut &stream, &mut text) {
            Ok(_) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
