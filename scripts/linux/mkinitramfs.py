#!/usr/bin/env python3
"""Build build/linux/initramfs.cpio: the guest's whole user space for the
Linux side-by-side benchmarks (scripts/linux/run.py boots it with Debian's
kernel from fetch.sh).

  /init                 scripts/linux/init.sh
  /bin/busybox          Debian's busybox-static, and links for the applets init uses
  /bin/lxbench          scripts/linux/src/*.c, built here with the host's gcc -static
  /lib/modules/*.ko     the virtio modules fetch.sh unpacked, and load.order
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
           "uname", "mkswap", "swapon", "swapoff", "poweroff"]


def build_lxbench(cc):
    src = os.path.join(HERE, "src")
    sources = sorted(os.path.join(src, f) for f in os.listdir(src) if f.endswith(".c"))
    exe = os.path.join(OUT, "lxbench")
    subprocess.run([cc, "-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o", exe] + sources, check=True)
    return exe


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
    data = c.close()
    path = os.path.join(OUT, "initramfs.cpio")
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    print(f"mkinitramfs.py: {path} ({len(data) >> 10} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
