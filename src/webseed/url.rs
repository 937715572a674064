//! BEP 19 URL rules: where a web seed keeps each file of a torrent.
//!
//! Pure (any thread). A single-file torrent's URL is the file itself, unless it ends in `/`, when
//! the torrent's name is appended. A multi-file torrent's URL is a folder: `name/dir/file` is
//! appended, each component percent-encoded; a folder URL without its `/` gets one, as
//! libtorrent does. Paths are the cleaned ones coracle stores the files under (libtorrent too
//! builds web-seed URLs from its cleaned paths).

use std::path::Path;

/// Appends `component` to `out`, percent-encoding every byte but RFC 3986's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`), so spaces, `?`, `#`, `%` and non-ASCII survive.
pub fn encode_component(component: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in component.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// `path` (relative, ordinary components: `name/dir/file`) as encoded components joined by `/`.
pub fn encode_path(path: &Path) -> String {
    let mut out = String::new();
    for (i, c) in path.components().enumerate() {
        if i > 0 {
            out.push('/');
        }
        encode_component(&c.as_os_str().to_string_lossy(), &mut out);
    }
    out
}

/// The URL of one file: `base` is the web seed's URL from `url-list`, `encoded` the file's path
/// from [`encode_path`] (which starts with the torrent's name).
pub fn file_url(base: &str, encoded: &str, multi_file: bool) -> String {
    if !multi_file && !base.ends_with('/') {
        return base.to_owned();
    }
    let mut url = String::with_capacity(base.len() + 1 + encoded.len());
    url.push_str(base);
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(encoded);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_file_url_is_the_file_unless_it_ends_in_a_slash() {
        let enc = encode_path(Path::new("my file.iso"));
        assert_eq!(
            file_url("http://h/x/image.iso", &enc, false),
            "http://h/x/image.iso"
        );
        assert_eq!(
            file_url("http://h/x/", &enc, false),
            "http://h/x/my%20file.iso"
        );
    }

    #[test]
    fn multi_file_url_appends_name_and_each_encoded_component() {
        let enc = encode_path(Path::new("My Album/CD 1/Größe & 100%.flac"));
        assert_eq!(enc, "My%20Album/CD%201/Gr%C3%B6%C3%9Fe%20%26%20100%25.flac");
        assert_eq!(
            file_url("http://h:8080/seed/", &enc, true),
            "http://h:8080/seed/My%20Album/CD%201/Gr%C3%B6%C3%9Fe%20%26%20100%25.flac"
        );
        // A folder URL without its slash gets one (libtorrent does the same).
        assert_eq!(file_url("http://h/seed", "a/b", true), "http://h/seed/a/b");
    }

    #[test]
    fn reserved_characters_never_split_a_component() {
        let mut s = String::new();
        encode_component("a/b?c#d;e+f=g~h_i-j.k", &mut s);
        assert_eq!(s, "a%2Fb%3Fc%23d%3Be%2Bf%3Dg~h_i-j.k");
        let mut s = String::new();
        encode_component("日本", &mut s);
        assert_eq!(s, "%E6%97%A5%E6%9C%AC");
    }
}
