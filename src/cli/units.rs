//! The command line's value parsers shared by every option that takes a size, a rate, a
//! duration or a peer address, so each is written (and explained when wrong) one way only.
//! Pure text in, value or message out; resolving a host name is the only I/O. Runs on the
//! binary's main thread.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// A byte count: `500000`, `512K`, `1.5M`, `2MB`, `100KiB`, `1G`. K, M, G and T are powers of
/// 1024 with or without a following `B` or `iB` (as aria2 reads `1M`); case does not matter.
pub fn bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "'{s}' is not a size like 500000, 512K, 1.5M or 100KiB"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("'{s}' is not a size like 500000, 512K, 1.5M or 100KiB"))?;
    let total = (value * scale as f64).round();
    if total >= 1.8e19 {
        return Err(format!("'{s}' is too large"));
    }
    Ok(total as u64)
}

/// A rate in bytes per second, as [`bytes`] reads it, at least 1.
pub fn rate(s: &str) -> Result<u64, String> {
    match bytes(s)? {
        0 => Err(format!("'{s}' must be at least 1 byte per second")),
        n => Ok(n),
    }
}

/// A positive duration: `90` (seconds), `0.5`, `30s`, `5m`, `1h`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let wrong = || format!("'{s}' is not a duration like 90, 30s, 5m or 1h");
    let t = s.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        _ => (t, 1.0),
    };
    number
        .parse::<f64>()
        .ok()
        .map(|x| x * scale)
        .filter(|x| x.is_finite() && *x > 0.0 && *x < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(wrong)
}

/// `HOST:PORT` for `--peer`: an address, or a name resolved here, once, to its first address.
/// The message says which part is wrong: no port, a port that is not a number, out of range or
/// 0, or a host that does not resolve.
pub fn peer(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return match a.port() {
            0 => Err(format!("'{s}': port 0 cannot be connected to")),
            _ => Ok(a),
        };
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "'{s}' has no port: expected HOST:PORT, e.g. 10.0.0.2:6881"
        ));
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(format!("'{s}' has no host: expected HOST:PORT"));
    }
    let port = match port.parse::<u64>() {
        Err(_) => return Err(format!("'{s}': port '{port}' is not a number")),
        Ok(0) => return Err(format!("'{s}': port 0 cannot be connected to")),
        Ok(p) if p > 65535 => return Err(format!("'{s}': port {p} is out of range (1-65535)")),
        Ok(p) => p as u16,
    };
    match (host, port).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("cannot resolve host '{host}': it has no address")),
        Err(e) => Err(format!("cannot resolve host '{host}': {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_usual_spellings() {
        assert_eq!(bytes("500000"), Ok(500_000));
        assert_eq!(bytes("512K"), Ok(512 << 10));
        assert_eq!(bytes("1.5M"), Ok(3 << 19));
        assert_eq!(bytes("2MB"), Ok(2 << 20));
        assert_eq!(bytes("100KiB"), Ok(100 << 10));
        assert_eq!(bytes("1g"), Ok(1 << 30));
        assert_eq!(
            bytes("fast"),
            Err("'fast' is not a size like 500000, 512K, 1.5M or 100KiB".into())
        );
        assert_eq!(
            rate("0"),
            Err("'0' must be at least 1 byte per second".into())
        );
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(duration("0").is_err() && duration("soon").is_err());
    }

    #[test]
    fn peer_errors_say_what_is_wrong() {
        assert_eq!(
            peer("127.0.0.1:6881"),
            Ok("127.0.0.1:6881".parse().unwrap())
        );
        assert_eq!(peer("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert_eq!(
            peer("nonsense"),
            Err("'nonsense' has no port: expected HOST:PORT, e.g. 10.0.0.2:6881".into())
        );
        assert_eq!(
            peer("1.2.3.4:70000"),
            Err("'1.2.3.4:70000': port 70000 is out of range (1-65535)".into())
        );
        assert_eq!(
            peer("1.2.3.4:0"),
            Err("'1.2.3.4:0': port 0 cannot be connected to".into())
        );
        assert_eq!(
            peer("host:abc"),
            Err("'host:abc': port 'abc' is not a number".into())
        );
    }
}
