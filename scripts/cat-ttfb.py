#!/usr/bin/env python3
# Time to first byte of `coracle cat` from a local swarm: three `coracle seed` processes on
# 127.0.0.1 serve a 256 MiB random file; `coracle cat` streams it three times into a fresh folder,
# and the script prints when the first byte reached stdout, the whole time, and the median.
# Run inside the loopback namespace: bash scripts/loopback-only.sh python3 scripts/cat-ttfb.py BINARY
import subprocess, time, sys, os, shutil, statistics
bin = sys.argv[1]
work = "/tmp/coracle-cat-ttfb"
shutil.rmtree(work, ignore_errors=True); os.makedirs(work)
data = os.path.join(work, "data"); os.makedirs(data)
with open(os.path.join(data, "film.bin"), "wb") as f:
    f.write(os.urandom(256 << 20))
subprocess.run([bin, "create", os.path.join(data, "film.bin"), "-o", os.path.join(work, "film.torrent"), "-q"], check=True)
seeders = []
for port in (7001, 7002, 7003):
    st = os.path.join(work, f"state{port}")
    seeders.append(subprocess.Popen([bin, "seed", os.path.join(work, "film.torrent"), "--data", data, "--port", str(port),
        "--no-trackers", "--no-dht", "--no-lsd", "--state-dir", st, "-q"]))
time.sleep(3)
times = []
for i in range(3):
    out = os.path.join(work, f"out{i}")
    t0 = time.monotonic()
    p = subprocess.Popen([bin, "cat", os.path.join(work, "film.torrent"), "-o", out, "--no-trackers", "--no-dht", "--no-lsd",
        "--peer", "127.0.0.1:7001", "--peer", "127.0.0.1:7002", "--peer", "127.0.0.1:7003", "--port", "0",
        "--state-dir", os.path.join(work, f"cstate{i}"), "-q"], stdout=subprocess.PIPE)
    b = p.stdout.read(1)
    t1 = time.monotonic()
    rest = p.stdout.read()
    t2 = time.monotonic()
    p.wait()
    ok = b + rest == open(os.path.join(data, "film.bin"), "rb").read()
    times.append(t1 - t0)
    print(f"run {i}: first byte {1000*(t1-t0):.1f} ms, whole 256 MiB file {t2-t0:.2f} s, exit {p.returncode}, exact {ok}", flush=True)
print(f"median time to first byte: {1000*statistics.median(times):.1f} ms")
for s in seeders: s.terminate()
for s in seeders: s.wait()
