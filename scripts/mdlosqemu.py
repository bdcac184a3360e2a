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
A machine can also be kept running and rewound to a saved moment for each
of many tests (Worker: QEMU's savevm once, loadvm per test).
Every line is saved to a log and time-stamped from QEMU's start, so a caller
can judge results and measure boot time from the same run.
Python 3 standard library only.
"""
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
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
         echo=None, iso_dir=None, user_dir=None, disks=None, loader=None, timeout_from=None):
    """Boot KERNEL with CMDLINE (and the user programs of USER_DIR, default
    build/user) until QEMU exits, TIMEOUT seconds pass, or a line matches the
    regex STOP_WHEN. ECHO(line) is called for each line. DISKS: see disk_env.
    LOADER: "direct" or "grub" (module docstring; default DEFAULT_LOADER).
    TIMEOUT_FROM: a regex; once a line matches it, TIMEOUT counts from
    there (a test's own time limit, whatever the boot before it took), and
    until then the limit is 60 s more."""
    loader = loader or DEFAULT_LOADER
    how = boot_args(kernel, cmdline, loader, iso_dir or os.path.join(ROOT, "build", "iso-cache"), user_dir)
    env = dict(os.environ, QEMU_MEM=str(mem), **disk_env(disks))
    cmd = ["sh", os.path.join(ROOT, "scripts", "qemu.sh")] + how + ["-serial", "stdio", "-monitor", "none"]
    cmd += list(qemu_args)
    result = Boot()
    result.log_path = log_path
    result.loader = loader
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
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
        # Not Popen.kill: it polls first, and a QEMU that has just exited
        # would be reaped there, with its CPU time, and wait4 then fail.
        os.kill(proc.pid, signal.SIGKILL)
        reap(0)
    t.join(timeout=5)
    result.exit_code = proc.returncode
    result.elapsed = time.monotonic() - start
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as f:
            f.write(f"# cmdline: {cmdline}\n# loader: {loader}\n# qemu: {' '.join(cmd)}\n")
            for ts, line in result.lines:
                f.write(f"[{ts:8.3f}] {line}\n")
            cpu = f", CPU {result.cpu:.2f} s" if result.cpu is not None else ""
            f.write(f"# exit code {result.exit_code}, timed out {result.timed_out}, {result.elapsed:.2f} s{cpu}\n")
    return result


# ---- many tests on one machine: saved once, rewound for each (the bugcheck tests) ----

class WorkerError(RuntimeError):
    """A worker machine could not be made, rewound or told to stop."""


class Worker:
    """One QEMU that runs one-shot tests one after the other, each on the
    same just-booted machine. It boots KERNEL with CMDLINE until a line
    matches READY (`ktest.serve`: the kernel then waits for a test's name
    on the serial line), stops the machine and saves it inside QEMU
    (`savevm t0`: RAM, CPU and device state, stored in the disks'
    snapshot=on qcow2 overlays along with the disks' own contents at that
    moment). run(NAME) rewinds the machine to that moment (`loadvm t0`,
    which brings back the disks too), lets it go, sends NAME and reads the
    serial lines until the kernel "leaves QEMU": port 0xf4 is here an
    isa-debugcon whose byte comes up a pipe, instead of isa-debug-exit, so
    QEMU lives on for the next test (Boot.exit_code is still the status
    isa-debug-exit would have given, (byte << 1) | 1). A triple fault still
    ends QEMU (-no-reboot) and a test that outlives its timeout is killed
    with it; the worker is then dead (alive False) and the caller starts
    another."""

    def __init__(self, kernel, cmdline, *, ready, mem=256, loader=None, user_dir=None, log_path=None,
                 timeout=60, iso_dir=None):
        self.cmdline, self.log_path, self.alive, self.tests = cmdline, log_path, False, 0
        self.loader = loader or DEFAULT_LOADER
        self.proc, self.qmp, self.exit_fd, self.buf, self.cpu = None, None, None, b"", None
        how = boot_args(kernel, cmdline, self.loader, iso_dir or os.path.join(ROOT, "build", "iso-cache"), user_dir)
        # The socket outside build/: a test copies that tree while this runs
        # (build.hidden_tests_with_one_base_name_both_run), and copying a
        # socket fails.
        self.qmp_dir = tempfile.mkdtemp(prefix="mdlos-worker-")
        self.qmp_path = os.path.join(self.qmp_dir, "qmp.sock")
        exit_r, exit_w = os.pipe()
        # QEMU opens the pipe's write end by its /proc name (the chardev
        # `file` backend takes a path, not a descriptor).
        env = dict(os.environ, QEMU_MEM=str(mem), EXIT_PORT=f"/proc/self/fd/{exit_w}", **disk_env(None))
        self.cmd = (["sh", os.path.join(ROOT, "scripts", "qemu.sh")] + how +
                    ["-serial", "stdio", "-monitor", "none", "-qmp", f"unix:{self.qmp_path},server=on,wait=off"])
        self.start = time.monotonic()
        try:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=env, pass_fds=(exit_w,))
        except OSError:
            os.close(exit_r)
            shutil.rmtree(self.qmp_dir, ignore_errors=True)
            raise
        finally:
            os.close(exit_w)
        self.exit_fd = exit_r
        os.set_blocking(self.exit_fd, False)
        self.out_fd = self.proc.stdout.fileno()
        os.set_blocking(self.out_fd, False)
        lines, failed = [], None
        try:
            how, _ = self._collect(lines, self.start, self.start + timeout, re.compile(ready))
            if how != "match":
                raise WorkerError(f"the boot never said it was ready ({how})")
            self._qmp_connect()
            self._qmp("stop")
            t = time.monotonic()
            self._hmp("savevm t0")
            note = f"# stopped and saved (savevm t0) in {1000 * (time.monotonic() - t):.0f} ms"
            self.alive = True
        except (OSError, ValueError, WorkerError) as e:
            failed, note = e, f"# no worker: {e}"
        if log_path:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            with open(log_path, "w") as f:
                f.write(f"# cmdline: {cmdline}\n# loader: {self.loader}\n# qemu: {' '.join(self.cmd)}\n")
                for ts, line in lines:
                    f.write(f"[{ts:8.3f}] {line}\n")
                f.write(note + "\n")
        if failed:
            self.close()
            raise WorkerError(str(failed))

    # -- the serial line and the exit port --
    def _read_serial(self, lines, t0, until=None, flush=False):
        """Append every complete line the serial pipe holds now to LINES
        (FLUSH, or at end of file: the unfinished one too). Returns (end of
        file: QEMU is gone, whether a new line matched UNTIL)."""
        hit, eof = False, False
        while True:
            try:
                chunk = os.read(self.out_fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            self.buf += chunk
        while b"\n" in self.buf or ((flush or eof) and self.buf):
            raw, _, self.buf = self.buf.partition(b"\n")
            line = raw.decode("utf-8", "replace").rstrip("\r")
            lines.append((time.monotonic() - t0, line))
            hit = hit or bool(until and until.search(line))
        return eof, hit

    def _collect(self, lines, t0, deadline, until=None):
        """Read until a line matches UNTIL ("match"), a byte reaches the
        exit port ("exit", the byte), QEMU ends ("eof") or DEADLINE
        ("timeout"). The serial pipe is read before the exit port: the
        kernel wrote its lines before its exit byte."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", None
            ready, _, _ = select.select([self.out_fd, self.exit_fd], [], [], min(left, 1.0))
            if self.out_fd in ready:
                eof, hit = self._read_serial(lines, t0, until)
                if hit:
                    return "match", None
                if eof:
                    return "eof", None
            if self.exit_fd in ready:
                try:
                    byte = os.read(self.exit_fd, 64)
                except BlockingIOError:
                    continue
                if byte:
                    return "exit", byte[0]
                self._read_serial(lines, t0, flush=True)
                return "eof", None

    # -- QMP, with HMP's savevm/loadvm through it --
    def _qmp_connect(self):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.qmp_path)
        self.qmp, self.qmp_buf = s, b""
        self._qmp_reply()            # the greeting
        self._qmp("qmp_capabilities")

    def _qmp_reply(self):
        while True:
            while b"\n" not in self.qmp_buf:
                chunk = self.qmp.recv(1 << 16)
                if not chunk:
                    raise WorkerError("QEMU closed its QMP socket")
                self.qmp_buf += chunk
            raw, self.qmp_buf = self.qmp_buf.split(b"\n", 1)
            msg = json.loads(raw)
            if "event" in msg:
                continue
            if "error" in msg:
                raise WorkerError(f"QMP: {msg['error'].get('desc', msg['error'])}")
            return msg.get("return", msg)

    def _qmp(self, command, **arguments):
        msg = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.qmp.sendall(json.dumps(msg).encode() + b"\n")
        return self._qmp_reply()

    def _hmp(self, command_line):
        # savevm and loadvm say nothing when they work, and their error
        # as text when not.
        out = self._qmp("human-monitor-command", **{"command-line": command_line})
        if isinstance(out, str) and out.strip():
            raise WorkerError(f"{command_line}: {out.strip()}")

    # -- QEMU's own CPU time --
    def _cpu_now(self):
        """QEMU's user + system seconds so far, all its threads (/proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _end(self):
        """Kill QEMU if it still runs and reap it: its exit status."""
        self.alive = False
        if self.proc.returncode is None:
            self._reap(wait=0)
        return self.proc.returncode

    def _reap(self, wait):
        """Reap QEMU if it ended within WAIT seconds, else kill it first.
        By os.wait4, never Popen.wait: that also gives QEMU's CPU time."""
        end = time.monotonic() + wait
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() >= end:
                # os.kill, not Popen.kill: that polls first and could reap
                # QEMU itself, losing its CPU time (and the pid is QEMU's
                # until it is reaped here, so it names no other process).
                os.kill(self.proc.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.01)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu = ru.ru_utime + ru.ru_stime

    def run(self, name, *, timeout, log_path=None):
        """Rewind the machine, send it NAME and return what it printed as a
        Boot, judged as a boot's would be; the machine is left stopped."""
        b = Boot()
        b.log_path, b.loader, b.worker_error = log_path, self.loader, None
        if not self.alive:
            raise WorkerError("the worker is dead")
        self.tests += 1
        t0 = time.monotonic()
        cpu0 = self._cpu_now()
        try:
            self._hmp("loadvm t0")
            self._qmp("cont")
            self.proc.stdin.write(name.encode() + b"\n")
            self.proc.stdin.flush()
            how, byte = self._collect(b.lines, t0, t0 + timeout)
        except (OSError, ValueError, WorkerError) as e:
            how, byte, b.worker_error = "broken", None, str(e) or type(e).__name__
        if how == "exit":
            b.exit_code = (byte << 1) | 1
            try:
                # Stopped, it prints nothing more: all it said is in the pipe.
                self._qmp("stop")
                self._read_serial(b.lines, t0, flush=True)
            except (OSError, ValueError, WorkerError) as e:
                b.worker_error = f"stop after the test: {e}"
                self._end()
        elif how == "timeout":
            b.timed_out = True
            self._end()
        else:
            self._read_serial(b.lines, t0, flush=True)
            b.exit_code = self._end()
        b.elapsed = time.monotonic() - t0
        b.cpu = (self._cpu_now() if self.alive else self.cpu) - cpu0
        if log_path:
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
            with open(log_path, "w") as f:
                f.write(f"# cmdline: {self.cmdline}\n# loader: {self.loader}\n# qemu: {' '.join(self.cmd)}\n")
                f.write(f"# test {self.tests} of the worker whose boot is {self.log_path}: rewound to its "
                        f"saved machine (loadvm t0), serial input {name!r}\n")
                for ts, line in b.lines:
                    f.write(f"[{ts:8.3f}] {line}\n")
                if b.worker_error:
                    f.write(f"# the worker failed: {b.worker_error}\n")
                f.write(f"# exit code {b.exit_code}, timed out {b.timed_out}, {b.elapsed:.2f} s, CPU {b.cpu:.2f} s\n")
        return b

    def close(self):
        """End QEMU (if a test has not) and say what the worker cost."""
        if self.proc is None:
            return
        if self.alive and self.qmp:
            try:
                self._qmp("quit")
                self._reap(wait=5)
            except (OSError, ValueError, WorkerError):
                pass
        code = self._end()
        for f in (self.qmp, self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        try:
            os.close(self.exit_fd)
        except OSError:
            pass
        self.exit_fd = None
        shutil.rmtree(self.qmp_dir, ignore_errors=True)
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, "a") as f:
                cpu = f", CPU {self.cpu:.2f} s" if self.cpu is not None else ""
                f.write(f"# worker ended after {self.tests} tests: exit code {code}, "
                        f"{time.monotonic() - self.start:.2f} s{cpu}\n")
        self.proc = None
