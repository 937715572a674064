#!/usr/bin/python3
"""A libtorrent peer that finds others only through the DHT or local service discovery, for
coracle's discovery tests.

One session on one loopback address, with UPnP, NAT-PMP, PEX and uTP off. With --dht it runs
a DHT node that joins through BOOTSTRAP (an IP:PORT on loopback; '-' for none, as the first
node of a private DHT) and treats loopback nodes like any others; with --lsd it announces on
and listens to the BEP 14 multicast group. Without TORRENT it is a DHT node only. It logs
libtorrent's alerts to stdout and never exits on its own: the test kills it.

usage: lt_discovery.py IP PORT (--dht BOOTSTRAP | --lsd) [seed|leech TORRENT SAVE_PATH]
"""

import sys

import libtorrent as lt


def session(ip, port, bootstrap, lsd):
    cat = lt.alert_category
    dht = bootstrap is not None
    return lt.session(
        {
            "listen_interfaces": f"{ip}:{port}",
            "outgoing_interfaces": ip,
            "enable_dht": dht,
            "enable_lsd": lsd,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_incoming_utp": False,
            "enable_outgoing_utp": False,
            "dht_bootstrap_nodes": bootstrap if bootstrap and bootstrap != "-" else "",
            # Every node of this DHT is on 127/8: libtorrent must not treat them as one
            # address range to limit.
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            # Announce within seconds of starting, not after the 15 minutes of the default.
            "dht_announce_interval": 3,
            "local_service_announce_interval": 3,
            "alert_mask": cat.error | cat.status | cat.dht | cat.connect | cat.peer | cat.dht_log,
        }
    )


def add(ses, torrent, save_path):
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save_path
    params.flags |= lt.torrent_flags.disable_pex
    return ses.add_torrent(params)


def main():
    ip, port, how, arg = sys.argv[1:5]
    rest = sys.argv[5:]
    bootstrap = arg if how == "--dht" else None
    lsd = how == "--lsd"
    ses = session(ip, int(port), bootstrap, lsd)
    if rest:
        mode, torrent, save_path = rest
        handle = add(ses, torrent, save_path)
        print(f"{mode}: {handle.status().name} on {ip}:{port}", flush=True)
    else:
        print(f"dht node on {ip}:{port}", flush=True)
    while True:
        ses.wait_for_alert(500)
        for alert in ses.pop_alerts():
            print(f"{alert.what()}: {alert.message()}", flush=True)


if __name__ == "__main__":
    main()
