"""Boot mdlos in QEMU and read what it says: shared by ktest.py and bench.py.

One boot = one ISO (GRUB + the kernel + the user programs as modules + a
command line, made by mkiso.sh and cached by all of those) run by qemu.sh
with the serial console on a pipe.
Every line is saved to a log and time-stamped from QEMU's start, so a caller
can judge results and measure boot time from the same run.
Python 3 standard library only.
"""
import hashlib
import os
import re
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# isa-debug-exit: QEMU's status is (value << 1) | 1 (kernel/ke/ke.h).
EXIT_PASS, EXIT_FAIL, EXIT_BUGCHECK = (0x10 << 1) | 1, (0x11 << 1) | 1, (0x12 << 1) | 1

STOP_RE = re.compile(r"\*\*\* STOP: (0x[0-9A-Fa-f]+) \((0x[0-9a-f]+),(0x[0-9a-f]+),(0x[0-9a-f]+),(0x[0-9a-f]+)\)")


class Boot:
    """What one QEMU run produced."""

    def __init__(self):
        self.lines = []          # (seconds since QEMU start, text)
        self.exit_code = None
        self.timed_out = False
        self.stopped_early = False   # killed because stop_when matched
        self.log_path = None
        self.elapsed = 0.0

    def text(self):
        return "\n".join(t for _, t in self.lines)

    def time_of(self, prefix):
        for t, line in self.lines:
            if line.startswith(prefix):
                return t
        return None

    def stop(self):
        """(code, [p1..p4]) of the first bugcheck report, or None."""
        for _, line in self.lines:
            m = STOP_RE.search(line)
            if m:
                return int(m.group(1), 16), [int(m.group(i), 16) for i in range(2, 6)]
        return None


_iso_lock = threading.Lock()


def user_dir_of(kernel):
    """Where the user programs built with KERNEL live: build/user beside it."""
    return os.path.join(os.path.dirname(os.path.abspath(kernel)), "user")


def user_programs(user_dir):
    """The user programs mkiso.sh puts on the ISO as GRUB modules (USER_DIR/*.elf)."""
    try:
        return sorted(os.path.join(user_dir, f) for f in os.listdir(user_dir) if f.endswith(".elf"))
    except FileNotFoundError:
        return []


def file_digest(path):
    """SHA-1 of PATH's bytes."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_iso(kernel, cmdline, cache_dir, user_dir=None):
    """An ISO booting KERNEL with CMDLINE and the user programs of USER_DIR
    (default build/user) as modules; reused while none of them changed."""
    user_dir = user_dir or user_dir_of(kernel)
    # Keyed on the files' contents, not their times: a gcc, clang or DEBUG=1
    # kernel (or one copied in with its old mtime) can never boot from an ISO
    # made for another. Hashing the ~2 MB kernel and the programs costs a few
    # milliseconds per boot.
    mkiso = os.path.join(ROOT, "scripts", "mkiso.sh")
    ident = f"{os.path.abspath(kernel)}|{file_digest(kernel)}|{cmdline}|{file_digest(mkiso)}"
    for prog in user_programs(user_dir):
        ident += f"|{os.path.basename(prog)}:{file_digest(prog)}"
    key = hashlib.sha1(ident.encode()).hexdigest()[:16]
    iso = os.path.join(cache_dir, key + ".iso")
    with _iso_lock:
        if not os.path.exists(iso):
            os.makedirs(cache_dir, exist_ok=True)
            subprocess.run(["sh", mkiso, iso, kernel, cmdline, user_dir],
                           check=True)
    return iso


DISK_BYTES = 64 << 20


def disk_env(disks=None):
    """The environment qemu.sh reads for the two disks (scripts/qemu.sh).
    DISKS None: the build's images (build/disk0.img, disk1.img) with
    snapshot=on - only read, so every parallel boot can share them, and
    whatever a boot writes is gone when it ends. DISKS a pair of paths
    (fresh_disks): images this boot owns, opened read-write, for a test that
    checks what the guest wrote; None in the pair leaves that disk out."""
    if disks is None:
        return {"DISK_SNAPSHOT": "1"}
    return {"DISK_SNAPSHOT": "0", "DISK0": disks[0] or "none", "DISK1": disks[1] or "none"}


def fresh_disks(name, fill=None, sizes=(DISK_BYTES, DISK_BYTES)):
    """Two new raw images (SIZES bytes, 64 MiB each by default) for the test
    NAME, in build/test-disks/ (sparse: all zeros, nothing written).
    FILL(path, index) may then write what the host wants the guest to find.
    Returns the pair of paths."""
    d = os.path.join(ROOT, "build", "test-disks")
    os.makedirs(d, exist_ok=True)
    paths = []
    for i in range(2):
        path = os.path.join(d, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + f".disk{i}.img")
        with open(path, "wb") as f:
            f.truncate(sizes[i])
        if fill:
            fill(path, i)
        paths.append(path)
    return paths


def boot(kernel, cmdline, *, timeout, mem=256, log_path=None, qemu_args=(), stop_when=None,
         echo=None, iso_dir=None, user_dir=None, disks=None):
    """Boot KERNEL with CMDLINE (and the user programs of USER_DIR, default
    build/user) until QEMU exits, TIMEOUT seconds pass, or a line matches the
    regex STOP_WHEN. ECHO(line) is called for each line. DISKS: see disk_env."""
    iso = make_iso(kernel, cmdline, iso_dir or os.path.join(ROOT, "build", "iso-cache"), user_dir)
    env = dict(os.environ, QEMU_MEM=str(mem), **disk_env(disks))
    cmd = ["sh", os.path.join(ROOT, "scripts", "qemu.sh"), iso, "-serial", "stdio", "-monitor", "none"]
    cmd += list(qemu_args)
    result = Boot()
    result.log_path = log_path
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    stop_re = re.compile(stop_when) if stop_when else None
    matched = threading.Event()

    def reader():
        buf = b""
        while True:
            chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip("\r")
                result.lines.append((time.monotonic() - start, line))
                if echo:
                    echo(line)
                if stop_re and stop_re.search(line):
                    matched.set()
        if buf:
            result.lines.append((time.monotonic() - start, buf.decode("utf-8", "replace").rstrip("\r")))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = start + timeout
    while proc.poll() is None:
        if matched.is_set():
            result.stopped_early = True
            break
        if time.monotonic() > deadline:
            result.timed_out = True
            break
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    t.join(timeout=5)
    result.exit_code = proc.returncode
    result.elapsed = time.monotonic() - start
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as f:
            f.write(f"# cmdline: {cmdline}\n# qemu: {' '.join(cmd)}\n")
            for ts, line in result.lines:
                f.write(f"[{ts:8.3f}] {line}\n")
            f.write(f"# exit code {result.exit_code}, timed out {result.timed_out}, {result.elapsed:.2f} s\n")
    return result
