//! Saving and restoring a node across restarts: its id and its good nodes, bencoded.
//!
//! Part of [`Dht`]; pure data, on the reactor thread (the shell writes the bytes to `dht.dat` on a
//! thread of its own, see `reactor::dht_state`). A restored node bootstraps from its saved nodes (a
//! self-lookup seeded with them) and only falls back to the routers if none of them answers, so a
//! restart needs no router. The format is `d2:id20:…5:nodes<compact IPv4 nodes>6:nodes6<compact
//! IPv6 nodes>e`, the compact forms of BEP 5 and BEP 32.

use std::fmt;
use std::time::Instant;

use super::krpc::{compact_node, put_compact_peer, NodeInfo, NODE4_LEN, NODE6_LEN};
use super::{Dht, DhtConfig, NodeId};
use crate::bencode::{self, Bencode, BencodeError, Value};

/// Most nodes restored per family.
pub const MAX_SAVED_NODES: usize = 256;

/// Why a saved state cannot be restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Not bencode.
    Bencode(BencodeError),
    /// No 20-byte `id`.
    BadId,
    /// A node list of the wrong type or length.
    BadNodes,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Bencode(e) => write!(f, "dht state: {e}"),
            StateError::BadId => write!(f, "dht state: missing or malformed id"),
            StateError::BadNodes => write!(f, "dht state: malformed node list"),
        }
    }
}

impl std::error::Error for StateError {}

fn compact_nodes(nodes: &[NodeInfo]) -> Vec<u8> {
    let mut out = Vec::new();
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        put_compact_peer(&mut out, &n.addr);
    }
    out
}

fn read_nodes(
    v: &Value<'_>,
    key: &str,
    len: usize,
    out: &mut Vec<NodeInfo>,
) -> Result<(), StateError> {
    let Some(list) = v.get(key) else {
        return Ok(());
    };
    let bytes = list.as_bytes().ok_or(StateError::BadNodes)?;
    if bytes.len() % len != 0 {
        return Err(StateError::BadNodes);
    }
    let nodes = bytes.chunks_exact(len).filter_map(compact_node);
    out.extend(nodes.take(MAX_SAVED_NODES));
    Ok(())
}

impl Dht {
    /// The id and the good nodes, to hand to [`Dht::from_state`] at the next start.
    pub fn save_state(&self, now: Instant) -> Vec<u8> {
        let v4 = self.tables[0].good_nodes(now);
        let v6 = self.tables[1].good_nodes(now);
        Bencode::dict([
            ("id", Bencode::bytes(self.id.0)),
            ("nodes", Bencode::Bytes(compact_nodes(&v4))),
            ("nodes6", Bencode::Bytes(compact_nodes(&v6))),
        ])
        .encode()
    }

    /// A node restored from [`Dht::save_state`] output: same id, bootstrapping from the saved
    /// nodes (the routers in `cfg` are used only if none of them answers).
    pub fn from_state(
        cfg: DhtConfig,
        state: &[u8],
        seed: u64,
        now: Instant,
    ) -> Result<Dht, StateError> {
        let v = bencode::decode(state).map_err(StateError::Bencode)?;
        let id = v
            .get("id")
            .and_then(Value::as_bytes)
            .and_then(NodeId::from_slice)
            .ok_or(StateError::BadId)?;
        let mut known = Vec::new();
        read_nodes(&v, "nodes", NODE4_LEN, &mut known)?;
        if cfg.ipv6 {
            read_nodes(&v, "nodes6", NODE6_LEN, &mut known)?;
        }
        Ok(Dht::start(cfg, id, seed, now, &known))
    }
}
