#!/usr/bin/python3
"""A libtorrent DHT node for the coracle swarm example's `--dht` mode: a DHT of its own on
127.0.0.x, with no tracker anywhere.

usage: libtorrent_dht.py IP BOOTSTRAP router
       libtorrent_dht.py IP BOOTSTRAP seed TORRENT DATA_DIR
       libtorrent_dht.py IP BOOTSTRAP leech MAGNET OUT_DIR TIMEOUT_SECS

One session listening on IP (TCP and the DHT's UDP on one port the system picks), joining the
DHT through BOOTSTRAP (IP:PORT; '-' for none, as the first node), treating loopback nodes like
any others (`dht_restrict_*_ips` off). UPnP, NAT-PMP, LSD, PEX and uTP are off.

Lines on stdout:
  ready IP:PORT         listening (every role)
  session               leech: its session exists (the times it reports count from here)
  announce IP           router and seed: an incoming DHT announce from IP
  incoming IP           seed: an incoming peer connection from IP
  dht-peers N           leech: a DHT reply with N peers (the first one tells when the DHT
                        found a peer)
  metadata              leech: the magnet's metadata arrived
  finished downloaded=BYTES failed=BYTES peers=N    leech: every piece verified; then exits
  uploaded BYTES        seed: on its way out

Seeders announce every 3 s until they read a line `quiet` on stdin, then every 15 minutes (so
that they do not find and dial the leecher themselves during the measurement). Router and
seeders run until stdin closes; a leecher exits once finished, or non-zero on an error or after
TIMEOUT_SECS.
"""
import os
import sys
import threading
import time

try:
    import libtorrent as lt
except ImportError:
    sys.stderr.write(
        "error: the python3 libtorrent bindings are missing "
        "(Debian/Ubuntu: apt-get install python3-libtorrent)\n")
    sys.exit(3)


def session(ip, bootstrap):
    cat = lt.alert.category_t
    return lt.session({
        "listen_interfaces": "%s:0" % ip,
        "outgoing_interfaces": ip,
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "dht_bootstrap_nodes": "" if bootstrap == "-" else bootstrap,
        # Every node of this DHT is on 127/8: not one address range to limit.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        # Announce within seconds of starting, not after the 15 minutes of the default.
        "dht_announce_interval": 3,
        "allow_multiple_connections_per_ip": True,
        "user_agent": "libtorrent-swarm-dht",
        "alert_mask": cat.error_notification | cat.status_notification | cat.dht_notification
        | cat.peer_notification | cat.connect_notification | cat.tracker_notification,
    })


def say(line):
    print(line, flush=True)


def ready(ses, ip):
    say("ready %s:%d" % (ip, ses.listen_port()))


def serve(ses, ip, on_alert, on_line):
    """Reports alerts until stdin closes; `on_line` gets each stdin line."""
    done = threading.Event()

    def watch_stdin():
        try:
            for line in sys.stdin:
                on_line(line.strip())
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    ready(ses, ip)
    while not done.is_set():
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            on_alert(a)


def router(ses, ip):
    def on_alert(a):
        if isinstance(a, lt.dht_announce_alert):
            say("announce %s" % a.ip)
    serve(ses, ip, on_alert, lambda line: None)
    os._exit(0)


def seed(ses, ip, torrent, data):
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = data
    params.flags = (params.flags | lt.torrent_flags.seed_mode) & ~lt.torrent_flags.paused
    params.flags |= lt.torrent_flags.disable_pex | lt.torrent_flags.disable_lsd
    handle = ses.add_torrent(params)

    def on_alert(a):
        if isinstance(a, lt.dht_announce_alert):
            say("announce %s" % a.ip)
        elif isinstance(a, lt.incoming_connection_alert):
            say("incoming %s" % a.endpoint[0])
        elif isinstance(a, (lt.torrent_error_alert, lt.listen_failed_alert)):
            sys.stderr.write("libtorrent dht seeder: %s\n" % a.message())

    def on_line(line):
        if line == "quiet":
            ses.apply_settings({"dht_announce_interval": 15 * 60})

    serve(ses, ip, on_alert, on_line)
    say("uploaded %d" % handle.status().total_payload_upload)
    os._exit(0)


def leech(ses, ip, magnet, out, timeout):
    say("session")
    params = lt.parse_magnet_uri(magnet)
    params.save_path = out
    params.flags |= lt.torrent_flags.disable_pex | lt.torrent_flags.disable_lsd
    handle = ses.add_torrent(params)
    ready(ses, ip)
    deadline = time.time() + timeout
    max_peers = 0
    while True:
        finished = False
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_reply_alert):
                say("dht-peers %d" % a.num_peers)
            elif isinstance(a, lt.metadata_received_alert):
                say("metadata")
            elif isinstance(a, lt.torrent_finished_alert):
                finished = True
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.listen_failed_alert)):
                sys.stderr.write("libtorrent dht leecher: %s\n" % a.message())
                return 1
        st = handle.status()
        max_peers = max(max_peers, st.num_peers)
        if finished or st.is_finished or st.is_seeding:
            break
        if time.time() > deadline:
            sys.stderr.write("libtorrent dht leecher: not finished after %gs (%.1f%%)\n"
                             % (timeout, st.progress * 100))
            return 1
        ses.wait_for_alert(100)
    say("finished downloaded=%d failed=%d peers=%d"
        % (st.total_payload_download, st.total_failed_bytes, max_peers))
    return 0


def main():
    if len(sys.argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    ip, bootstrap, role = sys.argv[1:4]
    rest = sys.argv[4:]
    ses = session(ip, bootstrap)
    if role == "router":
        return router(ses, ip)
    if role == "seed" and len(rest) == 2:
        return seed(ses, ip, *rest)
    if role == "leech" and len(rest) == 3:
        return leech(ses, ip, rest[0], rest[1], float(rest[2]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
