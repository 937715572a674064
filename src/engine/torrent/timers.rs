//! The clock-driven side of a torrent, as deadlines: rates and progress, each peer's keep-alive,
//! inactivity and request timeouts, the choker's rounds, announces, dial retries, batched
//! `have`s and upload tokens. [`TorrentCore::handle_timeout`] runs only what is due; each timer
//! is armed by the input that makes it needed and stays disarmed while there is nothing to do,
//! so an idle torrent (seeding, no traffic) wakes its process only for announces and keep-alives.
//!
//! Part of the sans-IO torrent core (reactor thread); see the parent module.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::TorrentCore;
use crate::engine::choker::{self, Candidate};
use crate::engine::io::{Action, AnnounceDone, ConnId, Event};
use crate::engine::peer::PeerError;
use crate::engine::Outputs;
use crate::tracker::{AnnounceEvent, AnnounceRequest};
use crate::wire::Message;

/// Idle time after which we send a keep-alive (peers drop us after two minutes of silence).
const KEEPALIVE_AFTER: Duration = Duration::from_secs(60);
/// How early a keep-alive may go out so that those due within this window share one wake-up:
/// peers that joined over a few hundred milliseconds would otherwise each wake the reactor.
const KEEPALIVE_SLACK: Duration = Duration::from_secs(1);
/// How often rates are sampled and progress is reported while there is traffic.
pub(super) const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How soon `have`s reach peers interested in us, and how often full pipelines are topped up.
pub(super) const SHORT: Duration = Duration::from_millis(100);
/// How soon to retry dials that found no room (the session's connection limits).
pub(super) const DIAL_RETRY: Duration = Duration::from_secs(1);
/// A rate below this many bytes per second with nothing pending counts as idle: it is set to 0
/// and sampling stops until traffic returns.
const IDLE_RATE: f64 = 256.0;

/// The torrent's own deadlines (peers' checks live in `peer_checks`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Timer {
    /// Sample rates and report progress.
    Sample,
    /// The choker's round.
    Rechoke,
    /// A dial retry after a backoff (taken by the engine, which owns the connection limits).
    Dial,
    /// `have`s that peers have not heard yet.
    Haves,
    /// Top up the pipelines of peers that serve us.
    Refill,
    /// Upload tokens, while uploads wait for them.
    UploadTokens,
    /// PEX messages to peers that speak it.
    Pex,
    /// A metadata request that timed out (magnet links).
    Metadata,
    /// A checkpoint of the resume state, while pieces verified since the last one are unrecorded.
    Checkpoint,
    /// A web seed's back-off ends.
    WebSeeds,
}

impl Timer {
    /// How many kinds there are (the size of the table).
    pub(super) const COUNT: usize = 10;
}

impl TorrentCore {
    /// Runs every timer of this torrent that is due at `now`, and only those.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Outputs) {
        if self.timers.take_due(Timer::Haves as usize, now) {
            self.flush_haves(now, out);
        }
        if self.timers.take_due(Timer::Sample as usize, now) {
            self.sample(now, out);
        }
        let mut due = Vec::new();
        while let Some(conn) = self.peer_checks.pop_due(now + KEEPALIVE_SLACK) {
            due.push(conn);
        }
        for conn in due {
            self.check_peer(conn, now, out);
        }
        if self.timers.take_due(Timer::UploadTokens as usize, now) {
            self.refill_upload_tokens(now, out);
        }
        if self.timers.take_due(Timer::Rechoke as usize, now) {
            self.rechoke(now, out);
        }
        if self.timers.take_due(Timer::Refill as usize, now) {
            self.refill(now, out);
            self.arm_refill(now);
        }
        if self.timers.take_due(Timer::Pex as usize, now) {
            self.send_pex(now, out);
        }
        if self.timers.take_due(Timer::Metadata as usize, now) {
            self.metadata_timeout(now, out);
        }
        if self.timers.take_due(Timer::Checkpoint as usize, now) {
            self.want_checkpoint(out);
        }
        if self.timers.take_due(Timer::WebSeeds as usize, now) {
            self.fill_web_seeds(now, out);
        }
        self.maybe_announce(now, out);
    }

    /// The earliest deadline of this torrent.
    pub fn next_deadline(&self) -> Option<Instant> {
        let own = self.timers.next();
        let peers = self.peer_checks.first();
        let announce = if self.accepts_peers() {
            self.announcer.next_deadline()
        } else {
            None
        };
        [own, peers, announce].into_iter().flatten().min()
    }

    /// Whether the dial retry is due (the engine dials, since it owns the connection limits).
    pub(crate) fn take_dial_due(&mut self, now: Instant) -> bool {
        self.timers.take_due(Timer::Dial as usize, now)
    }

    /// Traffic or progress happened: rates must be sampled until they settle.
    pub(super) fn arm_sample(&mut self, now: Instant) {
        if !self.timers.is_armed(Timer::Sample as usize) {
            self.last_sample = now;
            self.timers.arm(Timer::Sample as usize, now + SAMPLE_EVERY);
        }
    }

    /// Keeps pipelines topped up while some peer we want data from serves us.
    pub(super) fn arm_refill(&mut self, now: Instant) {
        let serving = self.is_downloading()
            && self
                .interesting
                .iter()
                .any(|c| self.peers.get(c).is_some_and(|p| !p.peer_choking));
        if serving {
            self.timers.arm(Timer::Refill as usize, now + SHORT);
        }
    }

    /// Keeps the choker's rounds going while anyone is interested in us or unchoked.
    pub(super) fn arm_rechoke(&mut self, now: Instant) {
        self.timers
            .arm(Timer::Rechoke as usize, now + choker::RECHOKE_INTERVAL);
    }

    /// Samples rates and reports progress; keeps sampling only while something moves.
    fn sample(&mut self, now: Instant, out: &mut Outputs) {
        let elapsed = now.saturating_duration_since(self.last_sample);
        self.last_sample = now;
        let busy = self.totals.down_rate.pending() + self.totals.up_rate.pending() > 0;
        self.totals.down_rate.sample(elapsed);
        self.totals.up_rate.sample(elapsed);
        let settled = !busy
            && self.totals.down_rate.per_second() < IDLE_RATE
            && self.totals.up_rate.per_second() < IDLE_RATE;
        for peer in self.peers.values_mut() {
            let traffic = peer.down.pending() > 0;
            peer.down.sample(elapsed);
            peer.growth.on_sample(peer.down.per_second(), traffic);
            peer.up.sample(elapsed);
            if settled {
                // Every peer's bytes are also the torrent's, so its rates are no higher.
                peer.down.settle();
                peer.up.settle();
            }
        }
        if settled {
            self.totals.down_rate.settle();
            self.totals.up_rate.settle();
        }
        out.actions.push_back(Action::Event(Event::Progress {
            torrent: self.id,
            stats: self.stats(),
        }));
        let checking = matches!(self.phase, super::Phase::Checking(_));
        let keep = !settled || checking || (self.is_downloading() && !self.peers.is_empty());
        if keep {
            self.timers.arm(Timer::Sample as usize, now + SAMPLE_EVERY);
        }
    }

    /// Schedules the next check of `conn`: its keep-alive, its silence limit, or its oldest
    /// request's timeout, whichever comes first.
    pub(super) fn schedule_peer_check(&mut self, conn: ConnId) {
        let Some(peer) = self.peers.get(&conn) else {
            return;
        };
        let keepalive = peer.last_send + KEEPALIVE_AFTER;
        let silence = peer.last_recv + self.cfg.inactivity_timeout;
        let request = peer
            .in_flight
            .iter()
            .map(|(_, at)| *at + self.cfg.request_timeout)
            .min();
        let at = [Some(keepalive), Some(silence), request]
            .into_iter()
            .flatten()
            .min();
        self.peer_checks.set(conn, at);
    }

    /// A request went out to `conn`: its timeout may come before the scheduled check.
    pub(super) fn note_request(&mut self, conn: ConnId, at: Instant) {
        let due = at + self.cfg.request_timeout;
        match self.peer_checks.get(conn) {
            Some(t) if t <= due => {}
            _ => self.peer_checks.set(conn, Some(due)),
        }
    }

    /// Drops `conn` if silent too long, sends a keep-alive if we were, and hands its timed-out
    /// requests to other peers. Then schedules its next check.
    fn check_peer(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        let Some(peer) = self.peers.get_mut(&conn) else {
            return;
        };
        if now.saturating_duration_since(peer.last_recv) >= self.cfg.inactivity_timeout {
            self.drop_peer(conn, PeerError::Inactive, now, out);
            return;
        }
        if (now + KEEPALIVE_SLACK).saturating_duration_since(peer.last_send) >= KEEPALIVE_AFTER {
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
        if !expired.is_empty() {
            // A peer that sits on requests is snubbed: one request at a time until it delivers.
            peer.snubbed = true;
            let solo_owner = self
                .solo
                .values()
                .any(|o| *o == Some(super::Taker::Peer(conn)));
            for b in expired {
                peer.cancel_request(b, now);
                self.picker.on_request_dropped(b);
            }
            out.dirty.push(conn);
            if solo_owner {
                self.release_solo(conn);
            }
            // The freed blocks go to whoever can take them now.
            self.refill(now, out);
        }
        self.schedule_peer_check(conn);
    }

    /// The upload buckets have tokens again: restart the uploads that waited for them.
    fn refill_upload_tokens(&mut self, now: Instant, out: &mut Outputs) {
        self.pump_all_uploads(now, out);
    }

    /// Recomputes who we upload to (every ten seconds; the optimistic slot every thirty), and
    /// keeps the rounds going while anyone is interested or unchoked.
    pub(crate) fn rechoke(&mut self, now: Instant, out: &mut Outputs) {
        if !self.accepts_peers() {
            return;
        }
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
        let seeding = !self.is_downloading();
        let random = self.random();
        let (unchoke, optimistic) = choker::choose(
            &candidates,
            self.cfg.upload_slots,
            seeding,
            self.optimistic,
            random,
        );
        self.optimistic = optimistic;
        let mut any_open = false;
        for (&conn, peer) in self.peers.iter_mut() {
            any_open |= peer.peer_interested;
            let want = unchoke.contains(&conn);
            any_open |= want;
            if want != peer.am_choking {
                continue;
            }
            peer.am_choking = !want;
            if want {
                peer.ignored_requests = 0;
                peer.send(&Message::Unchoke, now);
            } else {
                peer.send(&Message::Choke, now);
                // BEP 6: a Fast peer's queued requests are rejected one by one, not voided,
                // except those for the allowed-fast pieces we granted it.
                let (keep, drop): (VecDeque<_>, VecDeque<_>) =
                    std::mem::take(&mut peer.upload_queue)
                        .into_iter()
                        .partition(|up| peer.ext.granted_fast.contains(&up.piece));
                peer.upload_queue = keep;
                for up in drop {
                    super::messages::reject(peer, &up, now, out, conn);
                }
            }
            out.dirty.push(conn);
        }
        if any_open {
            self.arm_rechoke(now);
        }
    }

    /// Unchokes a newly interested peer at once when an upload slot is free, rather than making
    /// it wait for the next round.
    pub(crate) fn unchoke_if_slot_free(&mut self, conn: ConnId, now: Instant, out: &mut Outputs) {
        self.arm_rechoke(now);
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
        if !self.accepts_peers() {
            return;
        }
        let Some((url, event)) = self.announcer.poll_due(now) else {
            return;
        };
        let request = self.announce_request(event);
        out.actions.push_back(Action::Announce {
            torrent: self.id,
            url,
            request,
        });
    }

    /// The parameters of an announce carrying `event`.
    pub fn announce_request(&self, event: AnnounceEvent) -> AnnounceRequest {
        let stats = self.stats();
        // Without metadata the size is unknown; 0 would make us a seed in the tracker's eyes,
        // and trackers give seeds no seeds. One block says "a leecher" without claiming more.
        let left = if self.phase.has_metadata() {
            stats.bytes_total - stats.bytes_done
        } else {
            u64::from(crate::layout::BLOCK_SIZE)
        };
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.cfg.peer_id,
            port: self.cfg.listen_port,
            uploaded: self.totals.uploaded,
            downloaded: self.totals.downloaded,
            left,
            event,
            numwant: 50,
            key: (self.cfg.seed as u32) ^ (self.id as u32),
            tracker_id: self.announcer.tracker_id().map(<[u8]>::to_vec),
        }
    }

    /// The tracker answered (or failed to).
    pub fn handle_announce(&mut self, done: AnnounceDone, now: Instant, out: &mut Outputs) {
        let answer = match done.result {
            Ok(resp) => {
                self.announcer.on_success(&done.url, &resp, now);
                if let Some(w) = resp.warning.clone() {
                    out.actions.push_back(Action::Event(Event::TrackerTrouble {
                        torrent: self.id,
                        url: done.url.clone(),
                        message: w,
                    }));
                }
                let count = resp.peers.len();
                for addr in resp.peers {
                    self.add_candidate(addr, now);
                }
                Ok(count)
            }
            Err(e) => {
                self.announcer.on_failure(&done.url, now);
                out.actions.push_back(Action::Event(Event::TrackerTrouble {
                    torrent: self.id,
                    url: done.url.clone(),
                    message: e.to_string(),
                }));
                Err(e.to_string())
            }
        };
        out.actions.push_back(Action::Event(Event::TrackerAnswered {
            torrent: self.id,
            url: done.url,
            peers: answer,
            next_announce: self
                .announcer
                .next_deadline()
                .map(|t| t.saturating_duration_since(now)),
        }));
        self.maybe_announce(now, out);
    }

    /// Where to send the `stopped` announce at shutdown: the tracker that answered last (the one
    /// that knows us), if any did.
    pub fn stop_announce_url(&self) -> Option<String> {
        self.announcer.stop_url().map(str::to_string)
    }
}
