#!/usr/bin/env python3
# What a first write costs through a shared file mapping against pwrite, on this machine.
# Writing a never-written region through a mapping makes the kernel fault each page in and zero it
# (readahead over a hole) before the copy; pwrite of whole pages copies only. On a VM whose balloon
# reports free pages to the host (virtio page reporting), the fault path's fresh high-order
# allocations cost far more than on hardware. The script writes SIZE MiB in 1 MiB chunks into a
# fresh sparse file, alternating the two ways ROUNDS times, and prints the kernel CPU of each and
# the medians. No sockets. Usage: python3 scripts/mapped-write-cost.py [SIZE_MIB [ROUNDS [DIR]]]
import mmap, os, resource, statistics, sys, time

size = int(sys.argv[1]) << 20 if len(sys.argv) > 1 else 1 << 30
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
folder = sys.argv[3] if len(sys.argv) > 3 else "."
chunk = os.urandom(1 << 20)


def kernel_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_stime


def write(way):
    path = os.path.join(folder, ".mapped-write-cost.tmp")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, size)
        before, start = kernel_cpu(), time.monotonic()
        if way == "mapped":
            with mmap.mmap(fd, size) as m:
                for off in range(0, size, len(chunk)):
                    m[off : off + len(chunk)] = chunk
        else:
            for off in range(0, size, len(chunk)):
                os.pwrite(fd, chunk, off)
        return kernel_cpu() - before, time.monotonic() - start
    finally:
        os.close(fd)
        os.unlink(path)


reporting = "/sys/module/page_reporting/parameters/min_free_ms"
if os.path.exists(reporting):
    print(f"page reporting: min_free_ms = {open(reporting).read().strip()}")
kernel = {"pwrite": [], "mapped": []}
for r in range(rounds):
    for way in ("pwrite", "mapped") if r % 2 == 0 else ("mapped", "pwrite"):
        sys_s, wall = write(way)
        kernel[way].append(sys_s)
        print(f"round {r + 1} {way:6}: kernel CPU {sys_s:.2f} s, wall {wall:.2f} s")
p, m = statistics.median(kernel["pwrite"]), statistics.median(kernel["mapped"])
print(f"median kernel CPU for {size >> 20} MiB: pwrite {p:.2f} s, mapped {m:.2f} s ({m / p:.1f}x)")
