#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, after seeding the corpora.
#   fuzz/run.sh [SECONDS] [TARGET...]      SECONDS defaults to 60
# Exits non-zero if any target crashes, hangs or runs out of memory; the input that did it is
# left in fuzz/artifacts/TARGET/ (replay: cargo +nightly fuzz run -s none TARGET FILE).
# Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz --locked).
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(bencode metainfo wire peer tracker magnet ext krpc)
fi

# The fuzzed code is safe Rust with no unsafe on these paths, so AddressSanitizer would only halve
# the exec rate; debug assertions and overflow checks stay on (cargo-fuzz's default). Build and
# run must use the same flags, or `run` rebuilds.
flags=(--sanitizer none)

# Seeds: real .torrent files plus small hand-made inputs. Written every run (cheap, idempotent);
# corpus/ is ignored, so nothing generated here is committed.
seed() { mkdir -p "corpus/$1" && printf "$3" >"corpus/$1/seed-$2"; }
for t in ../fixtures/*.torrent; do
  for dir in metainfo bencode; do
    mkdir -p "corpus/$dir" && cp "$t" "corpus/$dir/seed-$(basename "$t")"
  done
done
seed bencode ints 'li0ei-1ei9223372036854775807ei-9223372036854775808ee'
seed bencode unsorted 'd1:bi1e1:ald0:0:eee'
seed bencode nested 'lllldeeee'
# Wire: byte 0 = frame limit selector, bytes 1-3 = chunk size cycle, then frames.
wire_frames='\0\0\0\0\0\0\0\1\1\0\0\0\5\4\0\0\0\3\0\0\0\3\5\xff\x80\0\0\0\15\6\0\0\0\1\0\0\x40\0\0\0\x40\0'
wire_frames+='\0\0\0\14\7\0\0\0\2\0\0\x40\0abc\0\0\0\3\11\x1a\xe1\0\0\0\4\24\0de\0\0\0\3\25\11\11'
# BEP 6: suggest, have all, have none, reject, allowed fast.
wire_frames+='\0\0\0\5\15\0\0\0\7\0\0\0\1\16\0\0\0\1\17\0\0\0\15\20\0\0\0\1\0\0\x40\0\0\0\x40\0\0\0\0\5\21\0\0\0\3'
seed wire whole '\0\377\377\377'"$wire_frames"
seed wire bytewise '\0\1\1\1'"$wire_frames"
seed wire mixed '\1\3\0\7'"$wire_frames"
seed wire too-large '\2\5\5\5\0\0\0\16\6'
# Peer: byte 0 = what we have (bits 0-1: 0 none, 1 all, 2 half) and clock jumps (bits 2-3),
# byte 1 = harness seed, then the peer's stream. 31 pieces: a 4-byte bitfield; the last piece's second block is 576 bytes at 16384.
seed peer leech-last-piece '\0\3\0\0\0\5\5\0\0\0\2\0\0\0\1\1\0\0\0\1\2'
seed peer leech-bitfield '\0\3\0\0\0\5\5\xff\xff\xff\xfe\0\0\0\1\1\0\0\0\0'
seed peer seed-requests '\1\2\0\0\0\1\2\0\0\0\15\6\0\0\0\1\0\0\0\0\0\0\x40\0\0\0\0\15\10\0\0\0\1\0\0\0\0\0\0\x40\0'
seed peer half-mixed '\2\4\0\0\0\5\5\x55\x55\x55\x54\0\0\0\1\2\0\0\0\1\1\0\0\0\15\6\0\0\0\0\0\0\0\0\0\0\x40\0'
seed peer garbage '\0\0\0\0\0\2\5'
seed peer timers '\x0a\x33\0\0\0\5\5\xff\xff\xff\xfe\0\0\0\1\1\0\0\0\1\2\0\0\0\0\0\0\0\0'
# ... and a peer that sends both blocks of the last piece (16384 + 576 bytes) once asked.
{
  printf '\0\1\0\0\0\5\5\0\0\0\2\0\0\0\1\1'
  printf '\0\0\x02\x49\7\0\0\0\x1e\0\0\x40\0' && head -c 576 /dev/zero
  printf '\0\0\x40\x09\7\0\0\0\x1e\0\0\0\0' && head -c 16384 /dev/zero
} >corpus/peer/seed-leech-whole-piece
# Tracker bodies: compact, dict, IPv6, failure, and port-0 / duplicate peers.
seed tracker compact 'd8:intervali1800e5:peers12:\x7f\0\0\1\x1a\xe1\x0a\0\0\2\0\x50e'
seed tracker dict 'd5:peersld2:ip9:127.0.0.14:porti6881eed2:ip3:::14:porti1eeee'
seed tracker v6 'd5:peers0:6:peers618:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1\x1a\xe1e'
seed tracker failure 'd14:failure reason12:unregisterede'
seed tracker dups 'd5:peers18:\x7f\0\0\1\0\0\x7f\0\0\1\1\1\x7f\0\0\1\1\1e'
# KRPC: a get_peers query, then (after the 0xff separator) a response with nodes and values.
seed krpc get-peers 'd1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe'
seed krpc response 'd1:rd2:id20:abcdefghij01234567895:nodes26:mnopqrstuvwxyz123456\x0a\0\0\x02\x1a\xe15:token2:tk6:valuesl6:\x0a\0\0\x03\x1a\xe1ee1:t2:aa1:y1:re\xffd1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t1:x1:y1:qe'

# Magnet links: every parameter kind, base32, hybrid, and a skipped tracker.
seed magnet full 'magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Some+Name%%20x&tr=udp%%3A%%2F%%2F127.0.0.1%%3A6969&tr.1=http://192.0.2.1/a&x.pe=192.0.2.9:6881&x.pe=[2001:db8::1]:1&x.pe=h.example:7&so=0,2,4-6'
seed magnet base32 'magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK&tr=javascript:alert(1)'
seed magnet hybrid 'magnet:?xt=urn:btmh:12200f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f&xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a'
# Extensions: byte 0 picks handshake (0), ut_metadata (1), ut_pex (2), LSD (3), fetch (4).
seed ext handshake '\0d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei75e1:pi6881e1:v4:test6:yourip4:\x7f\0\0\1e'
seed ext metadata '\1d8:msg_typei1e5:piecei0e10:total_sizei5eeabcde'
seed ext pex '\2d5:added6:\x7f\0\0\1\x1a\xe17:added.f1:\x027:dropped0:e'
seed ext lsd '\3BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: c12fe1c06bba254a9dc9f519b335aa7c1367a88a\r\ncookie: x\r\n\r\n\r\n'
# Fetch of the 75-byte info dictionary: add peer 0 (size 139 - 64), request, answer it whole.
seed ext fetch '\4\0\0\0\213\1\2\0ud8:msg_typei1e5:piecei0e10:total_sizei75eed6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0e'

# The peer target needs a whole 16 KiB block (and more) in one input to get past a request.
# The ext target's fetch likewise needs two 16 KiB metadata pieces to complete the large info.
max_len() { case "$1" in peer | ext) echo 40000 ;; *) echo 8192 ;; esac; }

cargo +nightly fuzz build "${flags[@]}"
failed=()
for t in "${targets[@]}"; do
  echo "=== fuzz $t for ${secs}s ==="
  if ! cargo +nightly fuzz run "${flags[@]}" "$t" -- \
    -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1; then
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crashes"
