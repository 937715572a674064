//! [`Error`]: what a session call can fail with. Plain data on the caller's thread; each
//! variant that wraps another error gives it back through [`std::error::Error::source`], so
//! error reporters print the whole chain.

use std::fmt;

use super::TorrentHandle;
use crate::disk::StorageError;
use crate::magnet::MagnetError;
use crate::metainfo::MetainfoError;
use crate::selection::SelectError;

/// What went wrong, at session level.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The .torrent is malformed.
    Metainfo(MetainfoError),
    /// The magnet link is malformed or names no v1 torrent.
    Magnet(MagnetError),
    /// The files could not be created or reserved.
    Storage(StorageError),
    /// The same torrent is already in this session: here is its handle.
    AlreadyAdded(Box<TorrentHandle>),
    /// The torrent is no longer in the session (it was removed).
    NotFound,
    /// The session's thread is gone.
    SessionClosed,
    /// The torrent stopped on an error.
    TorrentFailed(String),
    /// The torrent was stopped (paused, removed or shut down) before it finished.
    Stopped,
    /// A wait ran out of time.
    Timeout,
    /// Files chosen that the torrent does not have, or a choice that leaves nothing.
    Selection(SelectError),
    /// The torrent has no file with this index.
    NoSuchFile(usize),
    /// A magnet link's metadata has not arrived yet, so its files are not known.
    NoMetadata,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Metainfo(e) => write!(f, "invalid torrent: {e}"),
            Error::Magnet(e) => write!(f, "invalid magnet link: {e}"),
            Error::Storage(e) => write!(f, "{e}"),
            Error::AlreadyAdded(_) => write!(f, "this torrent is already added"),
            Error::NotFound => write!(f, "the torrent is no longer in the session"),
            Error::SessionClosed => write!(f, "the session has shut down"),
            Error::TorrentFailed(why) => write!(f, "{why}"),
            Error::Stopped => write!(f, "the torrent was stopped before it finished"),
            Error::Timeout => write!(f, "timed out"),
            Error::Selection(e) => write!(f, "{e}"),
            Error::NoSuchFile(i) => write!(f, "the torrent has no file number {i}"),
            Error::NoMetadata => write!(f, "the torrent's metadata has not arrived yet"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Metainfo(e) => Some(e),
            Error::Magnet(e) => Some(e),
            Error::Storage(e) => Some(e),
            Error::Selection(e) => Some(e),
            // The rest wrap no error: a handle, a message, an index, or nothing.
            Error::AlreadyAdded(_)
            | Error::NotFound
            | Error::SessionClosed
            | Error::TorrentFailed(_)
            | Error::Stopped
            | Error::Timeout
            | Error::NoSuchFile(_)
            | Error::NoMetadata => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// Each wrapping variant hands back its cause, with the cause's own message.
    #[test]
    fn every_wrapped_error_is_its_source() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let cases: Vec<(Error, String)> = vec![
            (
                Error::Io {
                    context: "reading x.torrent".into(),
                    source: io,
                },
                "no such file".into(),
            ),
            (
                Error::Metainfo(MetainfoError::MissingField("info")),
                MetainfoError::MissingField("info").to_string(),
            ),
            (
                Error::Magnet(MagnetError::NotMagnet),
                MagnetError::NotMagnet.to_string(),
            ),
            (
                Error::Storage(StorageError::LengthOverflow),
                StorageError::LengthOverflow.to_string(),
            ),
            (
                Error::Selection(SelectError::Empty),
                SelectError::Empty.to_string(),
            ),
        ];
        for (error, cause) in cases {
            let source = error
                .source()
                .unwrap_or_else(|| panic!("{error:?} has no source"));
            assert_eq!(source.to_string(), cause, "{error:?}");
        }
        let io = Error::Io {
            context: "c".into(),
            source: std::io::Error::other("x"),
        };
        assert!(io.source().unwrap().is::<std::io::Error>());
        assert!(Error::Selection(SelectError::Empty)
            .source()
            .unwrap()
            .is::<SelectError>());
        // Two levels down: the disk's OS error, the torrent's bencode error.
        let disk = Error::Storage(StorageError::Io {
            path: "/x".into(),
            op: "write",
            source: std::io::Error::other("disk on fire"),
        });
        let os = disk
            .source()
            .and_then(|s| s.source())
            .expect("the OS error");
        assert_eq!(os.to_string(), "disk on fire");
        let damaged = Error::Metainfo(MetainfoError::Bencode(
            crate::bencode::BencodeError::UnexpectedEof,
        ));
        let cause = damaged
            .source()
            .and_then(|s| s.source())
            .expect("the bencode error");
        assert!(cause.is::<crate::bencode::BencodeError>());
        for plain in [
            Error::NotFound,
            Error::Timeout,
            Error::TorrentFailed("x".into()),
        ] {
            assert!(plain.source().is_none(), "{plain:?}");
        }
    }
}
