#!/usr/bin/env python3
"""Build build/linux/initramfs.cpio: the guest's whole user space for the
Linux side-by-side benchmarks (scripts/linux/run.py boots it with Debian's
kernel from fetch.sh).

  /init                 scripts/linux/init.sh
  /bin/busybox          Debian's busybox-static, and links for the applets init uses
  /bin/lxbench          scripts/linux/src/*.c, built here with the host's gcc -static
  /lib/modules/*.ko     the virtio modules fetch.sh unpacked, and load.order
  /lib/modules/lxvmap.ko  scripts/linux/module/lxvmap.c, built here against
                        Debian's headers (when fetch.sh got them)
  /dev/console          so init has a console before devtmpfs is mounted

The archive is written here (the "newc" cpio format the kernel unpacks, no
compression), so neither the cpio tool nor root is needed, and the same
inputs give the same bytes (fixed times, owners and order).
Python 3 standard library only.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "build", "linux")
APPLETS = ["sh", "echo", "cat", "mount", "insmod", "readlink", "sleep", "tr", "cut", "grep",
           "uname", "mkswap", "swapon", "swapoff", "poweroff", "dmesg", "sed", "rmmod"]


def build_lxbench(cc):
    src = os.path.join(HERE, "src")
    sources = sorted(os.path.join(src, f) for f in os.listdir(src) if f.endswith(".c"))
    exe = os.path.join(OUT, "lxbench")
    subprocess.run([cc, "-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", exe] + sources, check=True)
    return exe


def build_module():
    """lxvmap.ko, built with kbuild from the unpacked headers (in
    build/linux/module, so nothing is written into scripts/), or None."""
    with open(os.path.join(OUT, "kernel.version")) as f:
        kver = f.read().split()[0]
    headers = os.path.join(OUT, "headers", "usr", "src", "linux-headers-" + kver)
    if not os.path.exists(os.path.join(headers, "Makefile")):
        print("mkinitramfs.py: no kernel headers (see fetch.sh): no vmap figure", file=sys.stderr)
        return None
    build = os.path.join(OUT, "module")
    os.makedirs(build, exist_ok=True)
    for f in ("lxvmap.c", "Kbuild"):
        with open(os.path.join(HERE, "module", f), "rb") as src, open(os.path.join(build, f), "wb") as dst:
            dst.write(src.read())
    r = subprocess.run(["make", "-s", "-C", headers, "M=" + build, "modules"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ko = os.path.join(build, "lxvmap.ko")
    if r.returncode != 0 or not os.path.exists(ko):
        print(r.stdout + "mkinitramfs.py: lxvmap.ko did not build: no vmap figure", file=sys.stderr)
        return None
    # Its debug information is most of its size and would sit in the
    # guest's RAM for nothing.
    subprocess.run(["strip", "--strip-debug", ko], check=True)
    return ko


class Cpio:
    """A newc archive: a 110-byte ASCII header per entry, name and data each
    padded to 4 bytes, closed by the TRAILER!!! entry."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out += name_b + b"\0" * (-(110 + len(name_b)) % 4)
        self.out += data + b"\0" * (-len(data) % 4)

    def dir(self, name):
        self._entry(name, 0o040755)

    def file(self, name, path, mode=0o100755):
        with open(path, "rb") as f:
            self._entry(name, mode, f.read())

    def symlink(self, name, target):
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name, major, minor):
        self._entry(name, 0o020600, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)
        return bytes(self.out)


def main():
    need = [os.path.join(OUT, p) for p in ("vmlinuz", "busybox", "modules/load.order")]
    missing = [p for p in need if not os.path.exists(p)]
    if missing:
        print(f"mkinitramfs.py: run scripts/linux/fetch.sh first (missing {missing[0]})", file=sys.stderr)
        return 1
    lxbench = build_lxbench(os.environ.get("CC_HOST", "gcc"))
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.file("init", os.path.join(HERE, "init.sh"))
    c.file("bin/busybox", os.path.join(OUT, "busybox"))
    for a in APPLETS:
        c.symlink("bin/" + a, "busybox")
    c.file("bin/lxbench", lxbench)
    mods = os.path.join(OUT, "modules")
    with open(os.path.join(mods, "load.order")) as f:
        order = f.read().split()
    c.file("lib/modules/load.order", os.path.join(mods, "load.order"), 0o100644)
    for m in order:
        c.file("lib/modules/" + m, os.path.join(mods, m), 0o100644)
    ko = build_module()
    if ko:
        c.file("lib/modules/lxvmap.ko", ko, 0o100644)
    data = c.close()
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(OUT, "initramfs.cpio")
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    print(f"mkinitramfs.py: {path} ({len(data) >> 10} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
