#!/usr/bin/python3
"""A libtorrent seeder for the coracle swarm example.

usage: libtorrent_seeder.py TORRENT DATA_DIR [PORT]

Seeds TORRENT from the data already under DATA_DIR (seed_mode: no recheck) on 127.0.0.1 only:
no DHT, LSD, UPnP, NAT-PMP or PEX, TCP only. Prints "ready PORT" once it is seeding and the
tracker has answered, then runs until stdin closes or it is killed.
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


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    torrent, data = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    settings = {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "outgoing_interfaces": "127.0.0.1",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "user_agent": "libtorrent-swarm-seeder",
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    }
    # flags=0: no default plugins, so no ut_pex (and no ut_metadata or smart_ban), unless the
    # leechers start from a magnet link and need ut_metadata (PEX stays off per torrent).
    if os.environ.get("SWARM_SERVE_METADATA"):
        ses = lt.session(settings)
    else:
        ses = lt.session(settings, 0)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = data
    params.flags = (lt.torrent_flags.seed_mode | lt.torrent_flags.disable_pex
                    | lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd)
    handle = ses.add_torrent(params)

    deadline = time.time() + 60
    announced = False
    while True:
        for a in ses.pop_alerts():
            if isinstance(a, lt.tracker_reply_alert):
                announced = True
            elif isinstance(a, (lt.tracker_error_alert, lt.torrent_error_alert,
                                lt.listen_failed_alert)):
                sys.stderr.write("libtorrent seeder: %s\n" % a.message())
        st = handle.status()
        if announced and st.is_seeding:
            break
        if time.time() > deadline:
            sys.stderr.write("libtorrent seeder: not seeding/announced after 60s (state %s)\n"
                             % st.state)
            return 1
        ses.wait_for_alert(100)
    print("ready %d" % ses.listen_port(), flush=True)

    # Run until the parent closes our stdin (or kills us); report what we sent.
    done = threading.Event()

    def watch_stdin():
        try:
            sys.stdin.read()
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not done.wait(0.5):
        ses.pop_alerts()
    st = handle.status()
    print("uploaded %d" % st.total_payload_upload, flush=True)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
