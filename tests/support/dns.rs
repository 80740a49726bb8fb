//! A DNS server on 127.0.0.1 (UDP, RFC 1035 wire format) that answers A
//! and AAAA queries from a fixed table, answers NXDOMAIN for names marked
//! missing, and never answers names marked silent. Stops when dropped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How a name is answered.
#[derive(Clone, Debug)]
pub enum Answer {
    /// These addresses (A records for IPv4, AAAA for IPv6).
    Addresses(Vec<IpAddr>),
    /// NXDOMAIN.
    Missing,
    /// No reply at all.
    Silent,
}

/// The running server.
pub struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
}

/// The server never runs longer than this, whatever the test does.
const LIFETIME: Duration = Duration::from_secs(120);

impl DnsServer {
    /// Serve `table` (names without the trailing dot, lowercase).
    pub fn start(table: &[(&str, Answer)]) -> Self {
        let table: HashMap<String, Answer> = table
            .iter()
            .map(|(n, a)| (n.to_ascii_lowercase(), a.clone()))
            .collect();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (s, q) = (stop.clone(), queries.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                q.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = reply(&buf[..n], &table) {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        DnsServer {
            addr,
            stop,
            queries,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many queries it received.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The reply to one query, or None to stay silent.
fn reply(query: &[u8], table: &HashMap<String, Answer>) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // Question: labels, then type and class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question = query.get(12..i + 4)?;
    let name = labels.join(".");

    let (rcode, records): (u8, Vec<IpAddr>) = match table.get(&name) {
        Some(Answer::Silent) => return None,
        Some(Answer::Addresses(ips)) => (
            0,
            ips.iter()
                .copied()
                .filter(|ip| match ip {
                    IpAddr::V4(_) => qtype == 1,
                    IpAddr::V6(_) => qtype == 28,
                })
                .collect(),
        ),
        Some(Answer::Missing) | None => (3, Vec::new()),
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[0..2]); // id
    // QR, opcode 0, AA, RD copied; RA; rcode.
    out.push(0x84 | (query[2] & 0x01));
    out.push(0x80 | rcode);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    out.extend_from_slice(question);
    for ip in records {
        out.extend_from_slice(&[0xC0, 0x0C]); // the question's name
        let (rtype, data) = match ip {
            IpAddr::V4(v4) => (1u16, v4.octets().to_vec()),
            IpAddr::V6(v6) => (28u16, v6.octets().to_vec()),
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // IN
        out.extend_from_slice(&60u32.to_be_bytes()); // TTL
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}
