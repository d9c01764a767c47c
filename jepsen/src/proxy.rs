//! Per-link TCP proxies on 127.0.0.1: node i reaches node j only through the proxy of link
//! (i, j) (node i's `cluster.seeds` names it as j's address), so the nemesis can cut, black
//! hole or slow any link in either direction. A cut refuses new connections and drops open
//! ones; a black hole accepts and holds connections but silently discards every byte, so the
//! peers learn of it only by their own timeouts (when it heals, the connections that lost
//! bytes are closed); a slow link delays every chunk it forwards.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a link does to traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Forwards everything.
    Up,
    /// Refuses connections and drops open ones.
    Cut,
    /// Accepts and holds connections but discards every byte, closing nothing. TCP would
    /// resend the lost bytes once the path is back; the proxy cannot, so a connection that
    /// lost bytes is closed when the link leaves this state, and its peer reconnects.
    Blackhole,
    /// Forwards each chunk after this delay.
    Slow(Duration),
}

/// Every link's proxy: its port and its state.
pub struct Links {
    links: BTreeMap<(usize, usize), (u16, watch::Sender<LinkState>)>,
}

impl Links {
    /// Starts a proxy for every ordered pair of the `upstream` ports (node position -> its
    /// gRPC port).
    pub async fn start(upstream: &[u16]) -> Result<Links> {
        let mut links = BTreeMap::new();
        for from in 0..upstream.len() {
            for (to, port) in upstream.iter().enumerate() {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let (tx, rx) = watch::channel(LinkState::Up);
                links.insert((from, to), (listener.local_addr()?.port(), tx));
                tokio::spawn(serve(listener, *port, rx));
            }
        }
        Ok(Links { links })
    }

    /// The port node `from` reaches node `to` at.
    pub fn port(&self, from: usize, to: usize) -> Option<u16> {
        self.links.get(&(from, to)).map(|(p, _)| *p)
    }

    /// Sets the state of link `from -> to` (the connections `from` opens to `to`).
    pub fn set(&self, from: usize, to: usize, state: LinkState) {
        if let Some((_, tx)) = self.links.get(&(from, to)) {
            tx.send_replace(state);
        }
    }

    /// Sets both directions between `a` and `b`.
    pub fn set_both(&self, a: usize, b: usize, state: LinkState) {
        self.set(a, b, state);
        self.set(b, a, state);
    }

    /// Restores every link (closing the connections that lost bytes to a black hole).
    pub fn heal(&self) {
        for (_, tx) in self.links.values() {
            tx.send_replace(LinkState::Up);
        }
    }
}

/// Accepts connections for one link and pumps each to the upstream port.
async fn serve(listener: TcpListener, upstream: u16, state: watch::Receiver<LinkState>) {
    while let Ok((client, _)) = listener.accept().await {
        if *state.borrow() == LinkState::Cut {
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, upstream, state.clone()));
    }
}

/// Carries one connection of a link to the upstream port for as long as both ends keep it.
async fn connection(mut client: TcpStream, upstream: u16, mut state: watch::Receiver<LinkState>) {
    let _ = client.set_nodelay(true);
    // Opened into a black hole: held, and reaches the node only if the link comes back
    // before the client sent anything.
    let in_hole = *state.borrow_and_update() == LinkState::Blackhole;
    if in_hole && !wait_out_blackhole(&mut client, &mut state).await {
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Bytes a black hole swallowed cannot be sent again (TCP would retransmit them; the
    // proxy has dropped them), so once either direction lost some, both stay silent until
    // the link leaves the black hole, and then the connection closes.
    let lost = Arc::new(AtomicBool::new(false));
    // Either direction ending (or the link being cut) ends the connection.
    tokio::select! {
        _ = pump(cr, sw, state.clone(), &lost) => {}
        _ = pump(sr, cw, state, &lost) => {}
    }
}

/// Holds a connection accepted while the link is a black hole. True when the link came back
/// (up or slow) before the client sent a byte; otherwise discards what the client sends
/// until it closes or the link leaves the black hole, and answers false.
async fn wait_out_blackhole(client: &mut TcpStream, state: &mut watch::Receiver<LinkState>) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            r = client.read(&mut buf) => match r {
                Ok(0) | Err(_) => return false,
                Ok(_) => break,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return false;
                }
                let now = *state.borrow_and_update();
                match now {
                    LinkState::Cut => return false,
                    LinkState::Blackhole => {}
                    LinkState::Up | LinkState::Slow(_) => return true,
                }
            }
        }
    }
    // Bytes were lost: the connection is silent while the black hole lasts, then closes.
    let (r, _w) = client.split();
    swallow(r, state).await;
    false
}

/// Reads and discards until the reader closes or the link leaves the black hole.
async fn swallow(mut from: impl AsyncReadExt + Unpin, state: &mut watch::Receiver<LinkState>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            r = from.read(&mut buf) => if matches!(r, Ok(0) | Err(_)) { return },
            changed = state.changed() => if changed.is_err() || *state.borrow_and_update() != LinkState::Blackhole { return },
        }
    }
}

/// Copies `from` to `to` under the link's state until either side closes or the link is
/// cut; discards instead of writing while the link is a black hole (setting `lost`), and
/// ends once the link leaves the black hole if `lost` is set (by either direction).
async fn pump(mut from: impl AsyncReadExt + Unpin, mut to: impl AsyncWriteExt + Unpin, mut state: watch::Receiver<LinkState>, lost: &AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = state.changed() => {
                let now = *state.borrow_and_update();
                if changed.is_err() || now == LinkState::Cut || (now != LinkState::Blackhole && lost.load(Ordering::Relaxed)) {
                    return;
                }
                continue;
            }
        };
        let current = *state.borrow();
        match current {
            LinkState::Cut => return,
            LinkState::Blackhole => lost.store(true, Ordering::Relaxed),
            LinkState::Slow(d) => tokio::time::sleep(d).await,
            LinkState::Up => {}
        }
        if lost.load(Ordering::Relaxed) {
            // Lost bytes in the other direction, and the link left the black hole since.
            if current != LinkState::Blackhole {
                return;
            }
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// An echo server that counts the bytes it received.
    async fn echo_server() -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        count.fetch_add(n, Ordering::SeqCst);
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, received)
    }

    async fn connect(port: u16) -> Option<TcpStream> {
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(("127.0.0.1", port))).await.ok()?.ok()
    }

    /// What a read within `wait` gave: bytes, end of stream (`Some(empty)`), or nothing.
    async fn ping(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
        if s.write_all(b"ping").await.is_err() {
            return Some(Vec::new());
        }
        let mut buf = [0u8; 4];
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            Ok(Err(_)) => Some(Vec::new()),
            Err(_) => None,
        }
    }

    async fn round_trip(port: u16) -> Option<Vec<u8>> {
        let mut s = connect(port).await?;
        s.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await.ok()?.ok()?;
        Some(buf.to_vec())
    }

    #[tokio::test]
    async fn links_forward_cut_and_slow_down() {
        let (echo, _) = echo_server().await;
        let links = Links::start(&[echo, echo]).await.expect("links");
        let p01 = links.port(0, 1).expect("link 0->1");
        assert!(links.port(0, 0).is_none());
        assert_eq!(round_trip(p01).await.as_deref(), Some(&b"ping"[..]));
        links.set(0, 1, LinkState::Cut);
        assert_eq!(round_trip(p01).await, None, "a cut link passes nothing");
        let p10 = links.port(1, 0).expect("link 1->0");
        assert!(round_trip(p10).await.is_some(), "the other direction is its own link");
        links.set_both(0, 1, LinkState::Slow(Duration::from_millis(150)));
        let started = std::time::Instant::now();
        assert!(round_trip(p01).await.is_some());
        assert!(started.elapsed() >= Duration::from_millis(300), "both chunks waited");
        links.heal();
        assert!(round_trip(p01).await.is_some());
    }

    #[tokio::test]
    async fn a_black_hole_swallows_bytes_and_closes_nothing() {
        let (echo, received) = echo_server().await;
        let links = Links::start(&[echo, echo]).await.expect("links");
        let p01 = links.port(0, 1).expect("link 0->1");
        let short = Duration::from_millis(300);
        // Open before the fault: one idle, one that will send during it.
        let mut idle = connect(p01).await.expect("connect");
        let mut busy = connect(p01).await.expect("connect");
        assert_eq!(ping(&mut busy, Duration::from_secs(1)).await.as_deref(), Some(&b"ping"[..]));
        let before = received.load(Ordering::SeqCst);
        links.set(0, 1, LinkState::Blackhole);
        // Accepted, held open, never answered; nothing reaches the server.
        let mut fresh = connect(p01).await.expect("a black hole accepts connections");
        assert_eq!(ping(&mut fresh, short).await, None, "no answer and no close on a new connection");
        assert_eq!(ping(&mut busy, short).await, None, "no answer and no close on an open connection");
        let mut waiting = connect(p01).await.expect("connect");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(received.load(Ordering::SeqCst), before, "nothing was forwarded");
        let p10 = links.port(1, 0).expect("link 1->0");
        assert!(round_trip(p10).await.is_some(), "the other direction is its own link");
        // A cut (on the other link) closes a black-holed connection too.
        links.set(1, 0, LinkState::Blackhole);
        let mut cut_short = connect(p10).await.expect("connect");
        assert_eq!(ping(&mut cut_short, short).await, None);
        links.set(1, 0, LinkState::Cut);
        assert_eq!(ping(&mut cut_short, Duration::from_secs(1)).await, Some(Vec::new()), "a cut closes a black-holed connection");
        let before = received.load(Ordering::SeqCst);
        links.heal();
        // Connections that lost bytes close (their bytes cannot be resent); those that sent
        // nothing go on.
        assert_eq!(ping(&mut fresh, Duration::from_secs(1)).await, Some(Vec::new()), "closed at the heal");
        assert_eq!(ping(&mut busy, Duration::from_secs(1)).await, Some(Vec::new()), "closed at the heal");
        assert_eq!(ping(&mut idle, Duration::from_secs(1)).await.as_deref(), Some(&b"ping"[..]), "an idle connection survives");
        assert_eq!(ping(&mut waiting, Duration::from_secs(1)).await.as_deref(), Some(&b"ping"[..]), "a held connection goes on");
        assert!(round_trip(p01).await.is_some(), "new connections pass");
        assert_eq!(received.load(Ordering::SeqCst), before + 3 * 4, "only the survivors' pings and the new one reached the server");
    }
}
