"""Boot mdlos in QEMU and read what it says: shared by ktest.py and bench.py.

A boot takes one of two paths to the same kernel file, run by qemu.sh
with the serial console on a pipe:
  grub    the ISO `make run` boots: SeaBIOS, GRUB, the kernel and the user
          programs as multiboot2 modules, the command line in grub.cfg
          (made by mkiso.sh, cached by the contents of all of those);
  direct  QEMU loads the kernel itself (-kernel, multiboot1: the header in
          boot/boot.asm), the user programs as -initrd modules and the
          command line as -append, with the minimal firmware qboot instead
          of SeaBIOS: about 1 s less per boot, which is most of a short
          test boot. What the test runner uses unless a test is about the
          ISO (MDLOS_BOOT=grub boots everything the slow way).
A machine can also be saved whole while it runs (save_snapshot: QEMU's
migration stream) and started again from that file (boot(snapshot=)).
Every line is saved to a log and time-stamped from QEMU's start, so a caller
can judge results and measure boot time from the same run.
Python 3 standard library only.
"""
import hashlib
import os
import re
import shlex
import socket
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
        self.cpu = None          # QEMU's user + system seconds, when known

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
    # made for another. Each file is hashed once per version per process
    # (cached_digest), a few milliseconds.
    mkiso = os.path.join(ROOT, "scripts", "mkiso.sh")
    ident = f"{cached_digest(kernel)}|{cmdline}|{cached_digest(mkiso)}"
    for prog in user_programs(user_dir):
        ident += f"|{os.path.basename(prog)}:{cached_digest(prog)}"
    key = hashlib.sha1(ident.encode()).hexdigest()[:16]
    iso = os.path.join(cache_dir, key + ".iso")
    with _iso_lock:
        if not os.path.exists(iso):
            os.makedirs(cache_dir, exist_ok=True)
            subprocess.run(["sh", mkiso, iso, kernel, cmdline, user_dir],
                           check=True)
    return iso


# ---- the direct path: QEMU's multiboot1 loader and qboot ----

LOADERS = ("direct", "grub")
DEFAULT_LOADER = os.environ.get("MDLOS_BOOT", "direct")
_digests = {}


def cached_digest(path):
    """file_digest(PATH), computed once per process for each version of the
    file (path, inode, size and modification time name the version; the
    key of what is cached on disk is still the content)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _digests:
        _digests[key] = file_digest(path)
    return _digests[key]


def check_flat_image(kernel):
    """Why QEMU's multiboot1 loader cannot load KERNEL as the flat image its
    header describes (None when it can). With the a.out kludge the loader
    copies file bytes [header offset - (header_addr - load_addr), ...) to
    physical load_addr: right only if every loaded segment sits in the file
    at the same distance from its physical address, which is how ld lays
    out linker.ld's three page-aligned segments - checked, not assumed."""
    import struct
    with open(kernel, "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return "not an ELF64 file"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    deltas = set()
    for k in range(phnum):
        p_type, _, p_offset, _, p_paddr, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + k * phentsize)
        if p_type == 1 and p_filesz:
            deltas.add(p_paddr - p_offset)
    if len(deltas) != 1:
        return f"its PT_LOAD segments are not at one file-to-physical distance ({sorted(hex(d) for d in deltas)})"
    for i in range(0, 8192 - 32, 4):
        magic, flags, check = struct.unpack_from("<III", data, i)
        if magic == 0x1BADB002 and (magic + flags + check) & 0xFFFFFFFF == 0:
            if not flags & (1 << 16):
                return "its multiboot1 header has no load addresses (flag 16)"
            return None
    return "no multiboot1 header in its first 8 KiB (boot/boot.asm)"


def qboot_rom():
    """The qboot firmware (Debian: qemu-system-data), or None."""
    env = os.environ.get("QBOOT")
    for p in ([env] if env else []) + ["/usr/share/qemu/qboot.rom", "/usr/share/qemu-firmware/qboot.rom",
                                       "/usr/share/seabios/qboot.rom"]:
        if p and os.path.exists(p):
            return p
    return None


def direct_modules(user_dir, cache_dir):
    """The -initrd argument: the user programs of USER_DIR as multiboot1
    modules "PATH NAME", stripped of debug information as on the ISO (the
    kernel keeps every module's frames, so both paths leave the tests the
    same free memory), cached by their contents."""
    progs = user_programs(user_dir)
    if not progs:
        return None
    ident = "|".join(f"{os.path.basename(p)}:{cached_digest(p)}" for p in progs)
    d = os.path.join(cache_dir, "modules-" + hashlib.sha1(ident.encode()).hexdigest()[:16])
    with _iso_lock:
        if not os.path.isdir(d):
            tmp = d + f".tmp{os.getpid()}.{threading.get_ident()}"
            os.makedirs(tmp, exist_ok=True)
            objcopy = os.environ.get("OBJCOPY", "objcopy")
            for p in progs:
                subprocess.run([objcopy, "--strip-debug", p, os.path.join(tmp, os.path.basename(p))], check=True)
            os.rename(tmp, d)   # atomic: a parallel runner never sees half a set
    mods = []
    for p in progs:
        path = os.path.join(d, os.path.basename(p))
        if "," in path or " " in path:
            raise RuntimeError(f"{path}: QEMU's -initrd list cannot hold a path with ',' or ' '")
        mods.append(f"{path} {os.path.basename(p)[:-4]}")
    return ",".join(mods)


def boot_args(kernel, cmdline, loader, cache_dir, user_dir=None):
    """qemu.sh's arguments that load KERNEL with CMDLINE by LOADER."""
    if loader == "grub":
        return [make_iso(kernel, cmdline, cache_dir, user_dir)]
    if loader != "direct":
        raise ValueError(f"loader {loader!r}: one of {LOADERS}")
    why = check_flat_image(kernel)
    if why:
        raise RuntimeError(f"{kernel}: QEMU cannot boot it directly: {why}")
    args = ["--direct", kernel, "-append", cmdline]
    mods = direct_modules(user_dir or user_dir_of(kernel), cache_dir)
    if mods:
        args += ["-initrd", mods]
    return args


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
         echo=None, iso_dir=None, user_dir=None, disks=None, loader=None, timeout_from=None,
         snapshot=None, feed=None):
    """Boot KERNEL with CMDLINE (and the user programs of USER_DIR, default
    build/user) until QEMU exits, TIMEOUT seconds pass, or a line matches the
    regex STOP_WHEN. ECHO(line) is called for each line. DISKS: see disk_env.
    LOADER: "direct" or "grub" (module docstring; default DEFAULT_LOADER).
    TIMEOUT_FROM: a regex; once a line matches it, TIMEOUT counts from
    there (a test's own time limit, whatever the boot before it took), and
    until then the limit is 60 s more. SNAPSHOT: a Snapshot (save_snapshot)
    to start from instead of booting (CMDLINE, MEM, LOADER and DISKS are
    then the snapshot's); FEED: bytes for the serial line's input."""
    if snapshot:
        kernel, cmdline, mem, loader, user_dir = (snapshot.kernel, snapshot.cmdline, snapshot.mem,
                                                  snapshot.loader, snapshot.user_dir)
        disks = None
    loader = loader or DEFAULT_LOADER
    how = boot_args(kernel, cmdline, loader, iso_dir or os.path.join(ROOT, "build", "iso-cache"), user_dir)
    env = dict(os.environ, QEMU_MEM=str(mem), **disk_env(disks))
    cmd = ["sh", os.path.join(ROOT, "scripts", "qemu.sh")] + how + ["-serial", "stdio", "-monitor", "none"]
    cmd += list(qemu_args)
    if snapshot:
        # The same machine (qemu.sh, the same arguments) loads the saved
        # state instead of resetting; whatever path the file has must not
        # be split by the shell `exec:` runs.
        cmd += ["-incoming", f"exec:cat {shlex.quote(snapshot.path)}"]
    result = Boot()
    result.log_path = log_path
    result.loader = loader
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if feed else subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env)
    if feed:
        # Into the pipe at once: QEMU hands the bytes to the UART as the
        # guest reads them (the pipe holds 64 KiB).
        try:
            proc.stdin.write(feed)
            proc.stdin.close()
        except OSError:
            pass
    stop_re = re.compile(stop_when) if stop_when else None
    from_re = re.compile(timeout_from) if timeout_from else None
    matched = threading.Event()
    deadline = [start + timeout + (60 if from_re else 0)]

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
                if from_re and from_re.search(line):
                    deadline[0] = time.monotonic() + timeout
        if buf:
            result.lines.append((time.monotonic() - start, buf.decode("utf-8", "replace").rstrip("\r")))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    # os.wait4 instead of proc.poll/wait: it also gives QEMU's own CPU
    # time (qemu.sh execs it, so the child is QEMU) - what the boot cost
    # the machine, as opposed to how long it took.
    def reap(flags):
        pid, status, ru = os.wait4(proc.pid, flags)
        if pid == 0:
            return False
        proc.returncode = os.waitstatus_to_exitcode(status)
        result.cpu = ru.ru_utime + ru.ru_stime
        return True

    while not reap(os.WNOHANG):
        if matched.is_set():
            result.stopped_early = True
            break
        if time.monotonic() > deadline[0]:
            result.timed_out = True
            break
        time.sleep(0.02)
    if proc.returncode is None:
        proc.kill()
        reap(0)
    t.join(timeout=5)
    result.exit_code = proc.returncode
    result.elapsed = time.monotonic() - start
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as f:
            f.write(f"# cmdline: {cmdline}\n# loader: {loader}\n# qemu: {' '.join(cmd)}\n")
            if snapshot:
                f.write(f"# started from the snapshot {snapshot.path} (its boot: {snapshot.log_path}), "
                        f"serial input {feed.strip()!r}\n")
            for ts, line in result.lines:
                f.write(f"[{ts:8.3f}] {line}\n")
            cpu = f", CPU {result.cpu:.2f} s" if result.cpu is not None else ""
            f.write(f"# exit code {result.exit_code}, timed out {result.timed_out}, {result.elapsed:.2f} s{cpu}\n")
    return result


# ---- starting a machine from a saved one (the bugcheck tests' fork server) ----

class Snapshot:
    """A machine saved by save_snapshot: the file and what booted it."""

    def __init__(self, path, kernel, cmdline, mem, loader, user_dir, log_path):
        self.path, self.kernel, self.cmdline, self.mem = path, kernel, cmdline, mem
        self.loader, self.user_dir, self.log_path = loader, user_dir, log_path


def save_snapshot(kernel, cmdline, path, *, ready, mem=256, loader=None, user_dir=None, log_path=None,
                  timeout=60):
    """Boot KERNEL with CMDLINE until a line matches the regex READY, then
    save the whole machine (RAM, CPU and device state: QEMU's migration
    stream, `migrate exec:`) to PATH and end it. Returns a Snapshot, or
    raises RuntimeError saying why not (the boot's lines are in LOG_PATH).
    The disks are opened snapshot=on and the kernel has written nothing to
    them before READY, so a machine started from PATH finds the same image
    bytes the saved one had (the disks' contents are not in the stream)."""
    loader = loader or DEFAULT_LOADER
    mon = os.path.join(os.path.dirname(os.path.abspath(path)), f".mon-{os.getpid()}-{threading.get_ident()}.sock")
    if os.path.exists(mon):
        os.remove(mon)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    state = {"sock": None, "why": None}
    ready_re = re.compile(ready)

    def save(line):
        if state["sock"] is not None or state["why"] or not ready_re.search(line):
            return
        try:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(mon)
            state["sock"] = s
            out = b""
            deadline = time.monotonic() + timeout

            def cmd(text):
                s.sendall(text.encode() + b"\n")

            # No bandwidth cap (QEMU's default is for a network link), then
            # poll until the stream is complete.
            cmd("migrate_set_parameter max-bandwidth 100G")
            cmd(f"migrate \"exec:cat > {shlex.quote(path)}\"")
            while time.monotonic() < deadline:
                cmd("info migrate")
                time.sleep(0.005)
                s.settimeout(0.2)
                try:
                    out = (out + s.recv(1 << 16))[-8192:]
                except socket.timeout:
                    pass
                if b"Migration status: completed" in out:
                    cmd("quit")
                    return
                if re.search(rb"Migration status: (failed|cancelled)|Error|error", out):
                    break
            state["why"] = "migration did not complete: " + out.decode("utf-8", "replace")[-300:]
            cmd("quit")
        except OSError as e:
            state["why"] = f"the monitor: {e}"

    b = boot(kernel, cmdline, timeout=timeout, mem=mem, log_path=log_path, loader=loader, user_dir=user_dir,
             qemu_args=["-monitor", f"unix:{mon},server=on,wait=off"], echo=save)
    if state["sock"]:
        state["sock"].close()
    if os.path.exists(mon):
        os.remove(mon)
    if state["why"] or state["sock"] is None or not os.path.exists(path):
        why = state["why"] or ("the boot never said it was ready" if state["sock"] is None else "no state file")
        raise RuntimeError(f"no snapshot: {why} (exit {b.exit_code}, timed out {b.timed_out})")
    return Snapshot(path, kernel, cmdline, mem, loader, user_dir, log_path)
