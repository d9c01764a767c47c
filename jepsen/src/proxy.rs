//! Per-link TCP proxies on 127.0.0.1: node i reaches node j only through the proxy of link
//! (i, j) (node i's `cluster.seeds` names it as j's address), so the nemesis can cut or slow
//! any link in either direction. A cut refuses new connections and drops open ones; a slow
//! link delays every chunk it forwards.

use std::collections::BTreeMap;
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

    /// Sets the state of link `from -> to`.
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

    /// Restores every link.
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
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            // Either direction ending (or the link being cut) ends the connection.
            tokio::select! {
                _ = pump(cr, sw, state.clone()) => {}
                _ = pump(sr, cw, state) => {}
            }
        });
    }
}

/// Copies `from` to `to` under the link's state until either side closes or the link is cut.
async fn pump(mut from: impl AsyncReadExt + Unpin, mut to: impl AsyncWriteExt + Unpin, mut state: watch::Receiver<LinkState>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = state.changed() => {
                if changed.is_err() || *state.borrow() == LinkState::Cut {
                    return;
                }
                continue;
            }
        };
        let current = *state.borrow();
        match current {
            LinkState::Cut => return,
            LinkState::Slow(d) => tokio::time::sleep(d).await,
            LinkState::Up => {}
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    async fn round_trip(port: u16) -> Option<Vec<u8>> {
        let mut s = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(("127.0.0.1", port))).await.ok()?.ok()?;
        s.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(1), s.read_exact(&mut buf)).await.ok()?.ok()?;
        Some(buf.to_vec())
    }

    #[tokio::test]
    async fn links_forward_cut_and_slow_down() {
        let echo = echo_server().await;
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
}
