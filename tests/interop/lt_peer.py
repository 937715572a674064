#!/usr/bin/python3
"""A libtorrent peer for coracle's magnet and PEX interop tests.

usage: lt_peer.py SOURCE SAVE_PATH IP PORT [--pex] [--choke-all] [--upload-limit BYTES]
                  [--peer IP:PORT]...

SOURCE is a .torrent file or a magnet link. DHT, local peer discovery, UPnP, NAT-PMP and uTP
are off; PEX is on only with --pex. --choke-all unchokes no one (no upload slots), so a peer
gets only what the Fast extension allows it while choked. It prints libtorrent's alerts, `metadata received` once a
magnet's metadata arrived, `finished` when the download is done, and every few seconds the
addresses it is connected to (`peers: ip:port ...`). It never exits on its own.
"""

import sys
import time

import libtorrent as lt


def main():
    args = sys.argv[1:]
    source, save_path, ip, port = args[:4]
    rest = args[4:]
    pex = "--pex" in rest
    choke_all = "--choke-all" in rest
    limit = 0
    peers = []
    i = 0
    while i < len(rest):
        if rest[i] == "--upload-limit":
            limit = int(rest[i + 1])
            i += 1
        elif rest[i] == "--peer":
            peers.append(rest[i + 1])
            i += 1
        i += 1
    cat = lt.alert_category
    ses = lt.session(
        {
            "listen_interfaces": f"{ip}:{port}",
            "outgoing_interfaces": ip,
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "upload_rate_limit": limit,
            "unchoke_slots_limit": 0 if choke_all else 8,
            "choking_algorithm": 0,
            "allowed_fast_set_size": 5,
            "alert_mask": cat.error | cat.status | cat.connect | cat.peer,
        }
    )
    if limit or choke_all:
        # Loopback peers are in libtorrent's unlimited local class; put everyone in the global
        # class so the upload limit and the unchoke slots hold (and downloads last long enough for
        # PEX to matter).
        everyone = lt.ip_filter()
        everyone.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(everyone)
    if source.startswith("magnet:"):
        params = lt.parse_magnet_uri(source)
    else:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(source)
    params.save_path = save_path
    params.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
    if not pex:
        params.flags |= lt.torrent_flags.disable_pex
    handle = ses.add_torrent(params)
    for p in peers:
        host, p_port = p.rsplit(":", 1)
        handle.connect_peer((host, int(p_port)))
    print(f"started on {ip}:{port}", flush=True)
    last = 0.0
    while True:
        ses.wait_for_alert(500)
        for alert in ses.pop_alerts():
            if isinstance(alert, lt.metadata_received_alert):
                print("metadata received", flush=True)
            if isinstance(alert, lt.torrent_finished_alert):
                print("finished", flush=True)
            print(f"{alert.what()}: {alert.message()}", flush=True)
        if time.monotonic() - last > 2:
            last = time.monotonic()
            addrs = " ".join(f"{p.ip[0]}:{p.ip[1]}" for p in handle.get_peer_info())
            print(f"peers: {addrs}", flush=True)


if __name__ == "__main__":
    main()
