//! Web seeds (BEP 19) in the reactor: a torrent's `url-list` handed to the engine, its requests
//! handed to the fetch threads, their answers fed back.
//!
//! Runs on the reactor thread and never blocks: the HTTP runs in [`crate::webseed::fetch`].
//! Without the `webseed` feature (the 2 MiB build) this does nothing: no thread starts, no
//! torrent gets web seeds, and `url-list` is only listed by `coracle info`.

use std::sync::Arc;
use std::time::Instant;

use super::Wake;
use crate::engine::{Engine, TorrentId};
use crate::metainfo::Metainfo;
use crate::webseed::WebRequest;

/// The web-seed threads and their answers (nothing without the `webseed` feature).
pub(crate) struct WebSeedShell {
    #[cfg(feature = "webseed")]
    fetcher: crate::webseed::WebFetcher,
    #[cfg(feature = "webseed")]
    answers: crossbeam_channel::Receiver<crate::webseed::WebAnswer>,
}

impl WebSeedShell {
    /// Starts the fetch threads; each answer wakes the reactor through `wake`.
    pub fn new(wake: &Wake) -> std::io::Result<WebSeedShell> {
        #[cfg(feature = "webseed")]
        {
            let (tx, answers) = crossbeam_channel::unbounded();
            let wake = wake.clone();
            let notify: crate::tracker::http::Notify = Arc::new(move || {
                let _ = wake.wake();
            });
            let cfg = crate::webseed::FetchConfig::default();
            let fetcher = crate::webseed::WebFetcher::new(cfg, tx, notify)?;
            Ok(WebSeedShell { fetcher, answers })
        }
        #[cfg(not(feature = "webseed"))]
        {
            let _ = wake;
            Ok(WebSeedShell {})
        }
    }

    /// Gives torrent `id` the web seeds its metainfo lists, if any.
    pub fn add(&self, engine: &mut Engine, id: TorrentId, meta: &Arc<Metainfo>, now: Instant) {
        #[cfg(feature = "webseed")]
        if !meta.web_seeds.is_empty() {
            let table = crate::webseed::FileTable::from_metainfo(meta);
            let seeds = crate::webseed::WebSeeds::new(table, &meta.web_seeds);
            engine.add_web_seeds(id, seeds, now);
        }
        #[cfg(not(feature = "webseed"))]
        let _ = (engine, id, meta, now);
    }

    /// Queues a request the engine made (never blocks).
    pub fn submit(&self, request: WebRequest) {
        #[cfg(feature = "webseed")]
        self.fetcher.submit(request);
        #[cfg(not(feature = "webseed"))]
        log::debug!(
            "web seed request {} dropped: no web seeds in this build",
            request.job
        );
    }

    /// Feeds every answer that came back to the engine.
    pub fn drain(&self, engine: &mut Engine) {
        #[cfg(feature = "webseed")]
        while let Ok(answer) = self.answers.try_recv() {
            engine.handle_web_seed(answer, Instant::now());
        }
        #[cfg(not(feature = "webseed"))]
        let _ = engine;
    }

    /// Stops the dispatcher and waits for running requests until `deadline`: those still
    /// running then (they end within their timeout, unheard).
    pub fn stop_within(&mut self, deadline: Instant) -> Vec<String> {
        #[cfg(feature = "webseed")]
        return self.fetcher.stop_within(deadline);
        #[cfg(not(feature = "webseed"))]
        {
            let _ = deadline;
            Vec::new()
        }
    }
}
