#!/usr/bin/python3
"""A libtorrent leecher for the coracle swarm example (`--leech-with libtorrent`).

usage: libtorrent_leecher.py TORRENT|MAGNET OUT_DIR [TIMEOUT_SECS]

Downloads TORRENT (or a magnet link: then it prints "metadata" when the metadata arrived) into
OUT_DIR from the peers its tracker returns, on 127.0.0.1 only: no DHT,
LSD, UPnP, NAT-PMP or PEX, TCP only. Once every piece is verified it prints
"finished downloaded=BYTES failed=BYTES peers=N" and exits 0; on an error or after
TIMEOUT_SECS (default 900) it exits non-zero.
"""
import sys
import time

try:
    import libtorrent as lt
except ImportError:
    sys.stderr.write(
        "error: the python3 libtorrent bindings are missing "
        "(Debian/Ubuntu: apt-get install python3-libtorrent)\n")
    sys.exit(3)


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    torrent, out = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 900.0
    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        # Every seeder of the swarm is on 127.0.0.1; by default libtorrent keeps one per address.
        "allow_multiple_connections_per_ip": True,
        "user_agent": "libtorrent-swarm-leecher",
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    }
    magnet = torrent.startswith("magnet:")
    if magnet:
        # ut_metadata is one of the default plugins; PEX stays off through the torrent's flag.
        ses = lt.session(settings)
        params = lt.parse_magnet_uri(torrent)
    else:
        # flags=0: no default plugins, so no ut_pex (and no ut_metadata or smart_ban).
        ses = lt.session(settings, 0)
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(torrent)
    params.save_path = out
    params.flags = (params.flags | lt.torrent_flags.disable_pex
                    | lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd)
    handle = ses.add_torrent(params)

    deadline = time.time() + timeout
    max_peers = 0
    while True:
        finished = False
        for a in ses.pop_alerts():
            if isinstance(a, lt.metadata_received_alert):
                print("metadata", flush=True)
            elif isinstance(a, lt.torrent_finished_alert):
                finished = True
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.listen_failed_alert)):
                sys.stderr.write("libtorrent leecher: %s\n" % a.message())
                return 1
            elif isinstance(a, lt.tracker_error_alert):
                # The tracker is on loopback: an error is worth seeing, not fatal (peers may
                # already be connected).
                sys.stderr.write("libtorrent leecher: %s\n" % a.message())
        st = handle.status()
        max_peers = max(max_peers, st.num_peers)
        # The status check also covers a finished alert dropped from a full alert queue.
        if finished or st.is_finished or st.is_seeding:
            break
        if time.time() > deadline:
            sys.stderr.write("libtorrent leecher: not finished after %gs (%.1f%%, state %s)\n"
                             % (timeout, st.progress * 100, st.state))
            return 1
        ses.wait_for_alert(100)
    print("finished downloaded=%d failed=%d peers=%d"
          % (st.total_payload_download, st.total_failed_bytes, max_peers), flush=True)
    # Leaving main drops the session: it announces `stopped` and closes its files.
    return 0


if __name__ == "__main__":
    sys.exit(main())
