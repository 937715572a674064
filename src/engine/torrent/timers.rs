//! The clock-driven side of a torrent: rates, timeouts, keep-alives, the choker's rounds,
//! announces and progress reports. Driven by [`TorrentCore::handle_tick`] with the shell's `now`.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

use std::time::{Duration, Instant};

use super::{choker, Candidate, TorrentCore};
use crate::engine::io::{Action, AnnounceDone, ConnId, Event, TorrentState};
use crate::engine::peer::PeerError;
use crate::engine::Outputs;
use crate::tracker::{AnnounceEvent, AnnounceRequest};
use crate::wire::Message;

/// Idle time after which we send a keep-alive (peers drop us after two minutes of silence).
const KEEPALIVE_AFTER: Duration = Duration::from_secs(60);
/// How often rates are sampled and progress is reported.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl TorrentCore {
    /// Runs every timer that is due at `now`.
    pub fn handle_tick(&mut self, now: Instant, out: &mut Outputs) {
        self.flush_haves(now, out);
        let elapsed = now.saturating_duration_since(self.last_sample);
        if elapsed >= SAMPLE_EVERY {
            self.last_sample = now;
            self.sample_rates(elapsed);
            out.actions.push_back(Action::Event(Event::Progress {
                torrent: self.id,
                stats: self.stats(),
            }));
        }
        if !self.accepts_peers() {
            return;
        }
        self.expire(now, out);
        self.refill_upload_tokens(now, out);
        if now.saturating_duration_since(self.last_rechoke) >= choker::RECHOKE_INTERVAL {
            self.rechoke(now, out);
        }
        self.maybe_announce(now, out);
    }

    /// Adds one tick's worth of upload allowance (a burst of at most a second) and restarts the
    /// uploads that waited for it.
    fn refill_upload_tokens(&mut self, now: Instant, out: &mut Outputs) {
        let Some(limit) = self.cfg.upload_rate_limit else {
            return;
        };
        let elapsed = now.saturating_duration_since(self.last_refill);
        self.last_refill = now;
        let earned = (limit as f64 * elapsed.as_secs_f64()) as i64;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.upload_tokens = (self.upload_tokens.saturating_add(earned)).min(limit);
        let waiting: Vec<ConnId> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.upload_queue.is_empty())
            .map(|(c, _)| *c)
            .collect();
        for conn in waiting {
            self.pump_uploads(conn, out);
        }
    }

    fn sample_rates(&mut self, elapsed: Duration) {
        self.down_rate.sample(elapsed);
        self.up_rate.sample(elapsed);
        for peer in self.peers.values_mut() {
            peer.down.sample(elapsed);
            peer.up.sample(elapsed);
        }
    }

    /// Drops silent peers, sends keep-alives, and hands timed-out requests to other peers.
    fn expire(&mut self, now: Instant, out: &mut Outputs) {
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            let Some(peer) = self.peers.get_mut(&conn) else {
                continue;
            };
            if now.saturating_duration_since(peer.last_recv) >= self.cfg.inactivity_timeout {
                self.drop_peer(conn, PeerError::Inactive, now, out);
                continue;
            }
            if now.saturating_duration_since(peer.last_send) >= KEEPALIVE_AFTER {
                peer.send(&Message::KeepAlive, now);
                out.dirty.push(conn);
            }
            let limit = self.cfg.request_timeout;
            let mut expired = Vec::new();
            peer.in_flight.retain(|(b, at)| {
                let late = now.saturating_duration_since(*at) >= limit;
                if late {
                    expired.push(*b);
                }
                !late
            });
            if expired.is_empty() {
                continue;
            }
            // A peer that sits on requests is snubbed: one request at a time until it delivers.
            peer.snubbed = true;
            let solo_owner = self.solo.values().any(|o| *o == Some(conn));
            for b in expired {
                peer.cancel_request(b, now);
                self.picker.on_request_dropped(b);
            }
            out.dirty.push(conn);
            if solo_owner {
                self.release_solo(conn);
            }
        }
        let conns: Vec<ConnId> = self.peers.keys().copied().collect();
        for conn in conns {
            self.fill_requests(conn, now, out);
        }
    }

    /// Recomputes who we upload to (every ten seconds; the optimistic slot every thirty).
    pub(crate) fn rechoke(&mut self, now: Instant, out: &mut Outputs) {
        self.last_rechoke = now;
        if now.saturating_duration_since(self.last_optimistic) >= choker::OPTIMISTIC_INTERVAL {
            self.last_optimistic = now;
            self.optimistic = None;
        }
        let candidates: Vec<Candidate> = self
            .peers
            .iter()
            .map(|(&conn, p)| Candidate {
                conn,
                interested: p.peer_interested,
                down_rate: p.down.per_second(),
                up_rate: p.up.per_second(),
            })
            .collect();
        let seeding = self.state == TorrentState::Seeding;
        let random = self.random();
        let (unchoke, optimistic) = choker::choose(
            &candidates,
            self.cfg.upload_slots,
            seeding,
            self.optimistic,
            random,
        );
        self.optimistic = optimistic;
        for (&conn, peer) in self.peers.iter_mut() {
            let want = unchoke.contains(&conn);
            if want != peer.am_choking {
                continue;
            }
            peer.am_choking = !want;
            if want {
                peer.ignored_requests = 0;
                peer.send(&Message::Unchoke, now);
            } else {
                peer.send(&Message::Choke, now);
                peer.upload_queue.clear();
            }
            out.dirty.push(conn);
        }
    }

    /// Unchokes a newly interested peer at once when an upload slot is free, rather than making
    /// it wait for the next round.
    pub(crate) fn unchoke_if_slot_free(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        let unchoked = self.peers.values().filter(|p| !p.am_choking).count();
        if unchoked >= self.cfg.upload_slots {
            return;
        }
        if let Some(peer) = self.peers.get_mut(&conn) {
            if peer.am_choking {
                peer.am_choking = false;
                peer.ignored_requests = 0;
                peer.send(&Message::Unchoke, now);
                out.dirty.push(conn);
            }
        }
    }

    /// Sends an announce if one is due (and the torrent takes peers).
    pub(crate) fn maybe_announce(&mut self, now: Instant, out: &mut Outputs) {
        if self.announcing || !self.accepts_peers() {
            return;
        }
        let Some(url) = self.trackers.poll_due(now) else {
            return;
        };
        self.announcing = true;
        let request = self.announce_request(self.next_event());
        self.announce_event = request.event;
        out.actions.push_back(Action::Announce {
            torrent: self.id,
            url,
            request,
        });
    }

    /// The parameters of an announce carrying `event`.
    pub fn announce_request(&self, event: AnnounceEvent) -> AnnounceRequest {
        let stats = self.stats();
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.cfg.peer_id,
            port: self.cfg.listen_port,
            uploaded: self.uploaded,
            downloaded: self.downloaded,
            left: stats.bytes_total - stats.bytes_done,
            event,
            numwant: 50,
            key: (self.cfg.seed as u32) ^ (self.id as u32),
            tracker_id: self.trackers.tracker_id().map(<[u8]>::to_vec),
        }
    }

    /// The tracker answered (or failed to).
    pub fn handle_announce(&mut self, done: AnnounceDone, now: Instant, out: &mut Outputs) {
        self.announcing = false;
        match done.result {
            Ok(resp) => {
                self.trackers.on_success(&done.url, &resp, now);
                match self.announce_event {
                    AnnounceEvent::Started => self.started_sent = true,
                    AnnounceEvent::Completed => self.completed_pending = false,
                    _ => {}
                }
                if let Some(w) = resp.warning.clone() {
                    out.actions.push_back(Action::Event(Event::TrackerTrouble {
                        torrent: self.id,
                        url: done.url.clone(),
                        message: w,
                    }));
                }
                for addr in resp.peers {
                    self.add_candidate(addr, now);
                }
            }
            Err(e) => {
                self.trackers.on_failure(&done.url, now);
                out.actions.push_back(Action::Event(Event::TrackerTrouble {
                    torrent: self.id,
                    url: done.url,
                    message: e.to_string(),
                }));
            }
        }
    }

    /// Where to send the `stopped` announce at shutdown: the tracker that answered last (the one
    /// that knows us), if any did.
    pub fn stop_announce_url(&self) -> Option<String> {
        self.trackers.answered().map(str::to_string)
    }

    /// The earliest time a timer of this torrent needs the shell to call back.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.trackers.next_deadline()
    }

    /// Pauses: every peer is dropped, nothing is dialled or announced until [`Self::resume`].
    pub fn pause(&mut self, now: Instant, out: &mut Outputs) {
        if !self.accepts_peers() {
            return;
        }
        self.close_all(PeerError::Shutdown, now, out);
        self.state = TorrentState::Paused;
    }

    /// Resumes a paused torrent.
    pub fn resume(&mut self) {
        if self.state == TorrentState::Paused {
            self.state = self.active_state();
        }
    }
}
