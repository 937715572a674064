//! How a peer's request queue grows before its rate is known: a slow start, as TCP's and
//! libtorrent's.
//!
//! The rate-based depth ([`super::peer::REQUEST_QUEUE_SECONDS`] of the measured rate) needs a
//! rate, and rates are sampled once a second. Until then a new peer got the floor (16 blocks,
//! 256 KiB), which on a fast link bounds a whole short download: 64 MiB from one aria2c seeder
//! took coracle 1.22 s where libtorrent, whose queue grows per block, took 1.11 s; with slow
//! start 1.10-1.13 s (issue 15, `examples/swarm --seed-with aria2`; both wait about 1 s for
//! aria2's first unchoke). In slow start every block received raises the depth by one, so the
//! queue doubles each round trip; it ends when a sample shows the rate no longer growing, and
//! the rate alone sets the depth from then on.
//!
//! Part of the sans-IO engine: no clock, the caller passes what it measured.

/// The rate must grow by more than this factor from one sample to the next to stay in slow
/// start (libtorrent's test is the same 10 %).
const GROWTH_TO_STAY: f64 = 1.1;

/// How the depth of one peer's request queue is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QueueGrowth {
    /// Rate still climbing: the depth is the floor plus one per block received.
    SlowStart {
        /// Blocks received so far.
        blocks: usize,
        /// Bytes per second at the last sample that saw traffic (0 before any).
        last_rate: f64,
    },
    /// The rate has levelled off: it alone sets the depth.
    ByRate,
}

impl Default for QueueGrowth {
    fn default() -> Self {
        QueueGrowth::SlowStart {
            blocks: 0,
            last_rate: 0.0,
        }
    }
}

impl QueueGrowth {
    /// A block we asked for arrived.
    pub fn on_block(&mut self) {
        if let QueueGrowth::SlowStart { blocks, .. } = self {
            *blocks = blocks.saturating_add(1);
        }
    }

    /// The peer's rate was just sampled as `rate` bytes per second; `traffic` tells whether
    /// any block came since the previous sample (a peer choking us says nothing of its speed).
    pub fn on_sample(&mut self, rate: f64, traffic: bool) {
        let QueueGrowth::SlowStart { last_rate, .. } = self else {
            return;
        };
        if !traffic {
            return;
        }
        if *last_rate > 0.0 && rate <= *last_rate * GROWTH_TO_STAY {
            *self = QueueGrowth::ByRate;
        } else {
            *last_rate = rate;
        }
    }

    /// The depth to keep in flight: `by_rate` blocks, or more while slow start has grown past
    /// it; between `floor` and `cap`.
    pub fn depth(&self, by_rate: usize, floor: usize, cap: usize) -> usize {
        let grown = match self {
            QueueGrowth::SlowStart { blocks, .. } => floor.saturating_add(*blocks),
            QueueGrowth::ByRate => 0,
        };
        by_rate.max(grown).clamp(floor, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_block_in_slow_start_deepens_the_queue_by_one_up_to_the_cap() {
        let mut g = QueueGrowth::default();
        assert_eq!(g.depth(0, 16, 256), 16);
        for _ in 0..16 {
            g.on_block();
        }
        // One round trip of 16 blocks: twice the floor in flight.
        assert_eq!(g.depth(0, 16, 256), 32);
        for _ in 0..1000 {
            g.on_block();
        }
        assert_eq!(g.depth(0, 16, 256), 256);
        // A rate that asks for more than slow start reached wins.
        let g = QueueGrowth::default();
        assert_eq!(g.depth(100, 16, 256), 100);
    }

    #[test]
    fn slow_start_ends_when_the_rate_stops_growing() {
        let mut g = QueueGrowth::default();
        for _ in 0..40 {
            g.on_block();
        }
        // Choked all second: no verdict.
        g.on_sample(0.0, false);
        g.on_sample(1_000_000.0, true);
        g.on_sample(2_000_000.0, true);
        assert_eq!(g.depth(10, 16, 256), 56);
        // Under 10 % more: levelled off, the rate alone decides.
        g.on_sample(2_100_000.0, true);
        assert_eq!(g, QueueGrowth::ByRate);
        assert_eq!(g.depth(10, 16, 256), 16);
        assert_eq!(g.depth(300, 16, 256), 256);
        g.on_block();
        assert_eq!(g.depth(20, 16, 256), 20);
    }
}
