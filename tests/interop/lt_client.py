#!/usr/bin/python3
"""A libtorrent peer for coracle's interop tests.

Seeds or downloads one torrent on one loopback address with DHT, local peer discovery,
UPnP, NAT-PMP, PEX and uTP off, logging libtorrent's alerts to stdout. It never exits on
its own: the test compares the files and kills it.

usage: lt_client.py seed|leech TORRENT SAVE_PATH IP PORT
"""

import sys

import libtorrent as lt


def session(ip, port):
    cat = lt.alert_category
    return lt.session(
        {
            "listen_interfaces": f"{ip}:{port}",
            # Dial peers from the same address the tracker knows us by.
            "outgoing_interfaces": ip,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "alert_mask": cat.error | cat.status | cat.tracker | cat.connect | cat.peer,
        }
    )


def add(ses, torrent, save_path):
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save_path
    params.flags |= (
        lt.torrent_flags.disable_dht
        | lt.torrent_flags.disable_lsd
        | lt.torrent_flags.disable_pex
    )
    return ses.add_torrent(params)


def main():
    mode, torrent, save_path, ip, port = sys.argv[1:]
    ses = session(ip, int(port))
    # A seeder's data is checked on add; a leecher finds none and downloads.
    handle = add(ses, torrent, save_path)
    print(f"{mode}: {handle.status().name} on {ip}:{port}", flush=True)
    while True:
        ses.wait_for_alert(500)
        for alert in ses.pop_alerts():
            print(f"{alert.what()}: {alert.message()}", flush=True)


if __name__ == "__main__":
    main()
