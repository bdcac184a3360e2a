#!/usr/bin/env python3
"""Labs from the solution tree (docs/labs/README.md says how to write one).

  lab.py list                      the labs, in course order, with hours and points
  lab.py cut LAB[,LAB] --out DIR   the student tree: LAB's solution regions
                                   replaced by their stubs, the handout as LAB.md
                                   on top, hidden tests and teacher-only files left
                                   out; a git repository with one commit
  lab.py check [LAB...]            for CI: the full tree gets full marks; each cut
                                   tree builds without a warning, boots, passes every
                                   test outside the lab and fails every test of it,
                                   each saying what is not implemented
  lab.py grade LAB DIR... [--jobs N] [--csv F] [--json F]
                                   grade many student trees in parallel, each in a
                                   scratch copy with the teacher's tests put back,
                                   bounded in time and memory; a summary in CSV/JSON

Markers, in C sources (a line each, nothing else on it):

    /* LAB pgtbl: BEGIN SOLUTION */
    ...the solution...
    /* LAB pgtbl: END SOLUTION */
    /* LAB pgtbl: STUB
    ...the lines the student starts from (no comment terminator inside;
    use // comments)...
     */

and `/* LAB NOTE: ... */` (one line) for a note only teachers see.
Python 3 standard library only.
"""
import argparse
import concurrent.futures as cf
import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

BEGIN_RE = re.compile(r"^\s*/\* LAB ([\w,]+): BEGIN SOLUTION \*/\s*$")
END_RE = re.compile(r"^\s*/\* LAB ([\w,]+): END SOLUTION \*/\s*$")
STUB_RE = re.compile(r"^\s*/\* LAB ([\w,]+): STUB\s*$")
NOTE_RE = re.compile(r"^\s*/\* LAB NOTE: .*\*/\s*$")
ANY_MARK_RE = re.compile(r"\bLAB [\w,]+: (BEGIN SOLUTION|END SOLUTION|STUB)\b|\bLAB NOTE:")
# Files only the teacher's tree has: the hidden tests and the teachers' guide.
TEACHER_ONLY = ("labs/hidden/", "docs/labs/README.md")
MARKED_EXT = (".c", ".h", ".S", ".asm")


class MarkerError(Exception):
    pass


def load_labs(root=ROOT):
    with open(os.path.join(root, "labs", "labs.json")) as f:
        labs = json.load(f)["labs"]
    return dict(sorted(labs.items(), key=lambda kv: kv[1].get("order", 99)))


def tree_files(root=ROOT):
    """The tree's files as git knows them (tracked, plus new ones not ignored);
    outside a git checkout, every file but build/ and .git/."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(tree_files_plain(root))
    return sorted(f for f in set(out.split("\0")) if f and os.path.isfile(os.path.join(root, f)))


def transform(path, text, labs):
    """TEXT with the regions of LABS (a set) replaced by their stubs and
    every other lab's markers (not its code) removed, and how many regions
    of LABS there were. Raises MarkerError for a malformed region."""
    lines = text.splitlines(keepends=True)
    out, i, regions = [], 0, 0
    while i < len(lines):
        line = lines[i]
        m = BEGIN_RE.match(line)
        if NOTE_RE.match(line):
            i += 1
            continue
        if not m:
            if END_RE.match(line) or STUB_RE.match(line):
                raise MarkerError(f"{path}:{i + 1}: {line.strip()} without a BEGIN SOLUTION before it")
            if ANY_MARK_RE.search(line):
                raise MarkerError(f"{path}:{i + 1}: a LAB marker must be alone on its line: {line.strip()}")
            out.append(line)
            i += 1
            continue
        names = set(m.group(1).split(","))
        start = i
        i += 1
        body = []
        while i < len(lines) and not END_RE.match(lines[i]):
            if BEGIN_RE.match(lines[i]):
                raise MarkerError(f"{path}:{i + 1}: a region inside the region opened at line {start + 1}")
            body.append(lines[i])
            i += 1
        if i == len(lines) or set(END_RE.match(lines[i]).group(1).split(",")) != names:
            raise MarkerError(f"{path}:{start + 1}: BEGIN SOLUTION of {','.join(sorted(names))} has no matching END")
        i += 1
        stub = None
        if i < len(lines) and STUB_RE.match(lines[i]):
            if set(STUB_RE.match(lines[i]).group(1).split(",")) != names:
                raise MarkerError(f"{path}:{i + 1}: the STUB after a region names another lab")
            j = i + 1
            stub = []
            while j < len(lines) and lines[j].strip() != "*/":
                if "*/" in lines[j]:
                    raise MarkerError(f"{path}:{j + 1}: a stub may not contain '*/' (use // comments)")
                stub.append(lines[j])
                j += 1
            if j == len(lines):
                raise MarkerError(f"{path}:{i + 1}: STUB comment never closed by a line ' */'")
            i = j + 1
        regions += bool(names & labs)
        out.extend((stub or []) if names & labs else body)
    return "".join(out), regions


def regions_by_lab(root=ROOT):
    """{lab: [(file, count)]} of every marked region in the tree."""
    found = {}
    for f in tree_files(root):
        if not f.endswith(MARKED_EXT) or f.startswith(TEACHER_ONLY):
            continue
        text = open(os.path.join(root, f), errors="replace").read()
        for line in text.splitlines():
            m = BEGIN_RE.match(line)
            if m:
                for name in m.group(1).split(","):
                    found.setdefault(name, {}).setdefault(f, 0)
                    found[name][f] += 1
    return found


def cut(names, out_dir, root=ROOT, commit=True):
    labs = load_labs(root)
    unknown = [n for n in names if n not in labs]
    if unknown:
        raise SystemExit(f"lab.py: no lab {', '.join(unknown)} (labs: {', '.join(labs)})")
    out_dir = os.path.abspath(out_dir)
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise SystemExit(f"lab.py: {out_dir} exists and is not empty")
    os.makedirs(out_dir, exist_ok=True)
    want, total = set(names), 0
    for f in tree_files(root):
        if f.startswith(TEACHER_ONLY):
            continue
        src, dst = os.path.join(root, f), os.path.join(out_dir, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if f.endswith(MARKED_EXT):
            text = open(src, errors="surrogateescape").read()
            if "LAB" in text:
                text, n = transform(f, text, want)
                total += n
            with open(dst, "w", errors="surrogateescape") as g:
                g.write(text)
            shutil.copymode(src, dst)
        else:
            shutil.copy2(src, dst)
    # The handout on top: LAB.md, and README.md's first lines point at it.
    handouts = [open(os.path.join(root, labs[n]["handout"])).read() for n in names]
    with open(os.path.join(out_dir, "LAB.md"), "w") as g:
        g.write("\n\n".join(handouts))
    readme = os.path.join(out_dir, "README.md")
    body = open(readme).read()
    with open(readme, "w") as g:
        g.write(f"> **This is the {', '.join(names)} lab.** Read [LAB.md](LAB.md) first; "
                f"`make grade LAB={names[0]}` grades your work.\n\n" + body)
    # Nothing of a marker may survive.
    for f in tree_files_plain(out_dir):
        if f.endswith(MARKED_EXT) and ANY_MARK_RE.search(open(os.path.join(out_dir, f), errors="replace").read()):
            raise SystemExit(f"lab.py: a marker survived in {f}")
    if commit:
        env = dict(os.environ, GIT_AUTHOR_NAME="mdlos labs", GIT_AUTHOR_EMAIL="labs@mdlos.invalid",
                   GIT_COMMITTER_NAME="mdlos labs", GIT_COMMITTER_EMAIL="labs@mdlos.invalid")
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "commit", "-q", "-m", f"{', '.join(names)} lab: the handout is LAB.md"]):
            subprocess.run(cmd, cwd=out_dir, check=True, env=env, stdout=subprocess.DEVNULL)
    return total


def tree_files_plain(d):
    out = []
    for base, dirs, files in os.walk(d):
        dirs[:] = [x for x in dirs if x not in (".git", "build")]
        out += [os.path.relpath(os.path.join(base, f), d) for f in files]
    return out


def cmd_list(args):
    import grade
    labs = load_labs()
    regions = regions_by_lab()
    print(f"{'lab':<10} {'hours':>5} {'points':>6}  {'regions':>7}  title")
    for name, spec in labs.items():
        pts = sum(grade.graded_kernel_tests(ROOT, spec, grade.hidden_files(ROOT, name, [])).values())
        import labhost
        pts += sum(labhost.HOST_TESTS[n][0] for n in spec.get("host_tests", []) if n in labhost.HOST_TESTS)
        n = sum(regions.get(name, {}).values())
        print(f"{name:<10} {spec.get('hours', '?'):>5} {pts:>6}  {n:>7}  {spec['title']}")
        for f, c in sorted(regions.get(name, {}).items()):
            print(f"{'':<10} {'':>5} {'':>6}  {c:>7}  {f}")
    return 0


def cmd_cut(args):
    names = [n for n in args.lab.split(",") if n]
    n = cut(names, args.out)
    print(f"lab.py: {args.out}: the {', '.join(names)} lab, {n} region(s) cut to their stubs; "
          f"`cd {args.out} && make grade LAB={names[0]}`")
    return 0


def run_make_test(tree, log, pattern="*"):
    """`make test` (T=PATTERN) in TREE: {name: (ok, message)} from its PASS/FAIL lines."""
    out = subprocess.run(["make", "-C", tree, "-s", "test", f"T={pattern}"], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True)
    with open(log, "w") as f:
        f.write(out.stdout + out.stderr)
    res = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^(PASS|FAIL) (\S+?)(?:: (.*))?$", line)
        if m:
            res.setdefault(m.group(2), (m.group(1) == "PASS", m.group(3) or ""))
    return res, out.stdout.splitlines()[-1:] if out.stdout else ["(no output)"]


def cmd_check(args):
    import grade
    labs = load_labs()
    names = args.labs or list(labs)
    logs = os.path.join(ROOT, "build", "lab-check")
    os.makedirs(logs, exist_ok=True)
    problems = []
    t0 = time.monotonic()
    for name in names:
        spec = labs[name]
        t1 = time.monotonic()
        # 1. The solution tree: full marks.
        full = grade.grade_lab(ROOT, name, spec, [], 256, quiet=True)
        if full["score"] != full["max"] or not full["max"]:
            bad = [f"{t['name']}: {t['message']}" for t in full["tests"] if not t["passed"]]
            problems.append(f"{name}: the solution tree gets {full['score']}/{full['max']}: " + "; ".join(bad[:3]))
        # 2. The student tree.
        tmp = tempfile.mkdtemp(prefix=f"lab-{name}-", dir=os.path.join(ROOT, "build"))
        tree = os.path.join(tmp, "student")
        try:
            cut([name], tree)
            b = subprocess.run(["make", "-C", tree, "-s", "-j2", "all"], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True)
            text = b.stdout + b.stderr
            with open(os.path.join(logs, f"{name}.build.log"), "w") as f:
                f.write(text)
            if b.returncode != 0 or "warning:" in text:
                problems.append(f"{name}: the cut tree does not build cleanly: " +
                                next((l for l in text.splitlines() if "error" in l or "warning:" in l), text[-200:]))
                continue
            # Full marks must not be possible: every graded test fails, saying what is missing.
            g = subprocess.run([sys.executable, os.path.join(tree, "scripts", "grade.py"), "--lab", name,
                                "--extra-tests", " ".join(grade.hidden_files(ROOT, name, []))],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
            with open(os.path.join(logs, f"{name}.grade.log"), "w") as f:
                f.write(g.stdout + g.stderr)
            student = json.load(open(os.path.join(tree, "build", "grade", f"{name}.json")))
            for t in student["tests"]:
                if t["passed"]:
                    problems.append(f"{name}: {t['name']} passes on the stub (a broken lab)")
                elif "not implemented" not in t["message"]:
                    problems.append(f"{name}: {t['name']} fails on the stub without saying what is not "
                                    f"implemented: {t['message'][:160]}")
            # Filling in the solution (the regions' bodies) gives full marks in the student tree.
            for f, _ in regions_by_lab().get(name, {}).items():
                text, _ = transform(f, open(os.path.join(ROOT, f)).read(), set())
                with open(os.path.join(tree, f), "w") as g:
                    g.write(text)
            g = subprocess.run([sys.executable, os.path.join(tree, "scripts", "grade.py"), "--lab", name,
                                "--extra-tests", " ".join(grade.hidden_files(ROOT, name, []))],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
            filled = json.load(open(os.path.join(tree, "build", "grade", f"{name}.json")))
            if filled["score"] != filled["max"]:
                problems.append(f"{name}: the student tree with the solution filled in gets "
                                f"{filled['score']}/{filled['max']}")
            # Everything outside the lab passes: make test fails only the lab's own tests
            # (in the tree as the student gets it: the stubs back in).
            cut_again = os.path.join(tmp, "again")
            cut([name], cut_again, commit=False)
            for f in regions_by_lab().get(name, {}):
                shutil.copy2(os.path.join(cut_again, f), os.path.join(tree, f))
            if not args.quick:
                res, last = run_make_test(tree, os.path.join(logs, f"{name}.test.log"))
                import fnmatch
                ours = set(t["name"] for t in student["tests"])
                mine = lambda n: n in ours or any(fnmatch.fnmatchcase(n, p) for p in spec["tests"])  # noqa: E731
                outside = [n for n, (ok, m) in res.items() if not ok and not mine(n)]
                if outside:
                    # Once more, alone: a timing test can fail on a loaded machine (what
                    # counts is a failure the stub causes, and that one repeats).
                    again, _ = run_make_test(tree, os.path.join(logs, f"{name}.retest.log"), ",".join(outside))
                    outside = [f"{n}: {res[n][1]}" for n in outside if not again.get(n, (False,))[0]]
                if outside:
                    problems.append(f"{name}: the cut tree fails tests outside the lab: " + "; ".join(outside[:5]))
                if not res:
                    problems.append(f"{name}: make test in the cut tree reported nothing ({last[0]})")
            print(f"lab.py check: {name}: solution {full['score']}/{full['max']}, stub "
                  f"{student['score']}/{student['max']}, stub filled in {filled['score']}/{filled['max']}" + ("" if args.quick else f", make test in the cut tree: "
                                                            f"{last[0]}") + f" ({time.monotonic() - t1:.0f} s)",
                  flush=True)
        except MarkerError as e:
            problems.append(f"{name}: {e}")
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        print("FAIL lab-check " + p)
    print(f"lab.py check: {len(names)} lab(s), {len(problems)} problem(s), {time.monotonic() - t0:.0f} s")
    return 1 if problems else 0


def grade_one(sub, name, spec, work, timeout, mem_mib, hidden):
    """Grade the tree SUB in a scratch copy with the teacher's tests, scripts
    and framework put back; bounded by TIMEOUT seconds and MEM_MIB of
    address space per process."""
    t0 = time.monotonic()
    dst = os.path.join(work, re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.abspath(sub).strip("/")))
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(sub, dst, ignore=shutil.ignore_patterns(".git", "build"), symlinks=False)
    # Only the teacher's hidden tests count: a submission's own labs/hidden/ goes.
    shutil.rmtree(os.path.join(dst, "labs", "hidden"), ignore_errors=True)
    restore = list(spec.get("test_files", [])) + list(spec.get("restore", [])) + [
        "labs/labs.json", "scripts/grade.py", "scripts/labhost.py", "scripts/ktest.py", "scripts/mdlosqemu.py",
        "scripts/qemu.sh", "scripts/mkiso.sh", "scripts/gdb", "kernel/ktest", "Makefile"]
    for f in restore:
        s, d = os.path.join(ROOT, f), os.path.join(dst, f)
        if os.path.isdir(s):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(s, d)
        elif os.path.exists(s):
            os.makedirs(os.path.dirname(d), exist_ok=True)
            shutil.copy2(s, d)

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (mem_mib << 20, mem_mib << 20))
        os.setsid()
    row = {"submission": sub, "lab": name, "score": 0, "max": None, "status": "ok", "seconds": 0, "failed": ""}
    try:
        p = subprocess.run([sys.executable, os.path.join(dst, "scripts", "grade.py"), "--lab", name,
                            "--extra-tests", " ".join(hidden)], cwd=dst, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout, preexec_fn=limits,
                           env=dict(os.environ, MAKEFLAGS="-j1"))
        with open(dst + ".grade.log", "w") as f:
            f.write(p.stdout + p.stderr)
        res = json.load(open(os.path.join(dst, "build", "grade", f"{name}.json")))
        row.update(score=res["score"], max=res["max"], status="ok" if res["build"] == "ok" else res["build"],
                   failed=" ".join(t["name"] for t in res["tests"] if not t["passed"]))
    except subprocess.TimeoutExpired:
        row["status"] = f"timed out after {timeout} s"
    except (OSError, ValueError, KeyError) as e:
        row["status"] = f"no result: {e}"
    row["seconds"] = round(time.monotonic() - t0, 1)
    return row


def cmd_grade(args):
    import grade
    labs = load_labs()
    if args.lab not in labs:
        raise SystemExit(f"lab.py: no lab {args.lab}")
    spec = labs[args.lab]
    subs = args.dirs
    if args.shard:
        i, n = (int(x) for x in args.shard.split("/"))
        subs = [s for k, s in enumerate(sorted(subs)) if k % n == i]
    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    hidden = grade.hidden_files(ROOT, args.lab, args.extra_tests.split())
    maxpts = None
    rows = []
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futs = {pool.submit(grade_one, s, args.lab, spec, work, args.timeout, args.mem, hidden): s for s in subs}
        for f in cf.as_completed(futs):
            row = f.result()
            rows.append(row)
            maxpts = maxpts or row["max"]
            print(f"{row['lab']}: {row['score']}/{row['max'] or '?'}  {row['submission']}  ({row['status']}, "
                  f"{row['seconds']} s)", flush=True)
    rows.sort(key=lambda r: r["submission"])
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["submission", "lab", "score", "max", "status", "seconds", "failed"])
            w.writeheader()
            w.writerows(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"lab.py grade: {len(rows)} submission(s) of {args.lab}, "
          f"{sum(1 for r in rows if r['max'] and r['score'] == r['max'])} at full marks")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    c = sub.add_parser("cut")
    c.add_argument("lab")
    c.add_argument("--out", required=True)
    k = sub.add_parser("check")
    k.add_argument("labs", nargs="*")
    k.add_argument("--quick", action="store_true", help="skip make test in the cut tree (the stub must still fail)")
    k.add_argument("--keep", action="store_true", help="keep the cut trees in build/lab-*")
    g = sub.add_parser("grade")
    g.add_argument("lab")
    g.add_argument("dirs", nargs="+")
    g.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    g.add_argument("--timeout", type=int, default=900, help="seconds per submission (build and boots)")
    g.add_argument("--mem", type=int, default=4096, help="MiB of address space per process of a submission")
    g.add_argument("--work", default=os.path.join(ROOT, "build", "grading"))
    g.add_argument("--extra-tests", default="", help="more hidden tests (files or folders)")
    g.add_argument("--shard", default="", help="I/N: grade only every N-th submission from the I-th (CI matrix)")
    g.add_argument("--csv", default="")
    g.add_argument("--json", default="")
    args = ap.parse_args()
    return {"list": cmd_list, "cut": cmd_cut, "check": cmd_check, "grade": cmd_grade}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
