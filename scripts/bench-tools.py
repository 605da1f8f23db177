#!/usr/bin/env python3
"""Helpers for scripts/bench: run and account a command, sample a daemon's CPU and RSS, write
certheal configs, and print the report. Every measurement is appended as one JSON line to the
results file given by --results (rows are aggregated by `report`)."""
import argparse, ctypes, json, os, re, shlex, socket, statistics, subprocess, sys, time, urllib.request


def record(results, **entry):
    with open(results, "a") as out:
        out.write(json.dumps(entry) + "\n")


def log_lines(path, pattern=None):
    """Requests nginx has logged (optionally only those whose line contains pattern)."""
    try:
        with open(path, errors="replace") as log:
            return sum(1 for line in log if pattern is None or pattern in line)
    except FileNotFoundError:
        return 0


def cpu_seconds(pid):
    """CPU of every thread of pid, from /proc/PID/task/*/schedstat (nanoseconds). This is the
    quantity behind utime+stime of /proc/PID/stat, which only counts 10 ms ticks: too coarse for
    a window of ~100 probes of ~1 ms. The tick figure is returned too, as a cross-check."""
    ns = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that just ended
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ns / 1e9, ticks / os.sysconf("SC_CLK_TCK")


def memory_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not found for pid {pid}")


def certheal_probes(url):
    """Healthy probes so far from certheal's /metrics: the sums over every site of
    certheal_probes_total minus certheal_probe_failures_total (a failed probe costs CPU but is
    not counted, so failures can only make certheal look worse)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    def total(name):
        return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name + "{"))
    return total("certheal_probes_total") - total("certheal_probe_failures_total")


def counter(source):
    """A probe counter: metrics:URL (certheal) or log:FILE:TEXT (nginx access-log lines with TEXT)."""
    kind, _, rest = source.partition(":")
    if kind == "metrics":
        return lambda: certheal_probes(rest)
    path, _, text = rest.partition(":")
    return lambda: log_lines(path, text)


def run_accounted(cmd, out):
    """Runs cmd and returns (wait status, its rusage, wall seconds). The command is started by a
    /bin/sh that leaves it behind and exits, and this process, a child subreaper, reaps it: so the
    rusage is the command's own (CPU in microseconds), and its peak RSS does not include this
    Python process's (a child's ru_maxrss keeps the RSS of the process it was forked from, and
    the shell is small). The command waits on a pipe until the shell has exited, so the shell
    cannot reap it first."""
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    launcher = subprocess.Popen(
        ["/bin/sh", "-c", 'exec 3<&0; (read -r _ <&3; exec "$@" 3<&-) >"$OUT" 2>"$OUT.err" </dev/null & echo $!', "sh", *cmd],
        env={**os.environ, "OUT": out}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pid = int(launcher.stdout.readline())
    launcher.wait()
    start = time.monotonic()
    launcher.stdin.write("go\n")
    launcher.stdin.close()
    _, status, usage = os.wait4(pid, 0)
    return status, usage, time.monotonic() - start


def shown(cmd, repeated):
    """The command as a shell line; a tail of `repeated` identical groups is written once, x N."""
    if repeated > 1:
        size = (len(cmd) - 1) // repeated  # at most: the head has at least the program
        while size > 0 and cmd[len(cmd) - repeated * size:] != cmd[len(cmd) - size:] * repeated:
            size -= 1
        if size:
            return shlex.join(cmd[:len(cmd) - repeated * size]) + f" [{shlex.join(cmd[len(cmd) - size:])}] x {repeated}"
    return shlex.join(cmd)


def cmd_exec(a):
    """Runs the command, counts its CPU (user+sys) and peak RSS, and checks from its output how
    many probes succeeded."""
    seen = log_lines(a.log)
    status, usage, wall = run_accounted(a.cmd, a.out)
    text = open(a.out, errors="replace").read()
    if a.parse == "stime":  # "2167 connections in 1.56s; ..." (its own figure is user time only)
        match = re.search(r"^(\d+) connections in [\d.]+s;", text, re.M)
        probes = int(match.group(1)) if match else 0
    elif a.parse == "curl":  # -w '%{http_code}\n': one line per request
        probes = sum(1 for line in text.splitlines() if line.strip() == "200")
    else:  # certheal probe --json: one object per site
        probes = sum(1 for line in text.splitlines() if line.startswith("{") and json.loads(line)["class"] == "healthy")
    ok = probes > 0 and (a.expect == 0 or probes == a.expect)
    record(a.results, row=a.row, rep=a.rep, ok=ok, cpu_s=usage.ru_utime + usage.ru_stime, probes=probes,
           wall_s=wall, rss_kib=usage.ru_maxrss, rc=os.waitstatus_to_exitcode(status),
           server_requests=log_lines(a.log) - seen, cmd=shown(a.cmd, a.repeated))
    if not ok:
        print(f"bench: {a.row} rep {a.rep}: {probes} probes ok, expected {a.expect or '> 0'}; see {a.out} (--keep keeps it)", file=sys.stderr)


def cmd_wait(a):
    """Waits (bounded) until the counter reaches --at-least."""
    count, deadline = counter(a.count), time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        try:
            if count() >= a.at_least:
                return
        except OSError:
            pass  # the daemon is not listening yet
        if not os.path.exists(f"/proc/{a.pid}") or open(f"/proc/{a.pid}/stat").read().split(")")[-1].split()[0] == "Z":
            sys.exit(f"bench: the daemon (pid {a.pid}) exited before {a.count} reached {a.at_least}")
        time.sleep(0.1)
    sys.exit(f"bench: {a.count} did not reach {a.at_least} within {a.timeout} s")


def cmd_window(a):
    """CPU per probe of a running daemon over --seconds. The counter is read before the first CPU
    sample and after the last, so reading it (a /metrics scrape) is not counted in the window."""
    count = counter(a.count)
    n0 = count(); c0, t0 = cpu_seconds(a.pid)
    time.sleep(a.seconds)
    c1, t1 = cpu_seconds(a.pid); n1 = count()
    record(a.results, row=a.row, rep=a.rep, ok=n1 > n0, cpu_s=c1 - c0, cpu_ticks_s=t1 - t0, probes=n1 - n0,
           rss_kib=memory_kib(a.pid, "VmRSS"), cmd=a.cmd)


def cmd_drive(a):
    """Sends --n probe requests to an exporter (blackbox_exporter /probe) and counts its CPU."""
    c0, t0 = cpu_seconds(a.pid)
    good = 0
    for _ in range(a.n):
        with urllib.request.urlopen(a.url, timeout=10) as response:
            good += "\nprobe_success 1" in response.read().decode()
    c1, t1 = cpu_seconds(a.pid)
    record(a.results, row=a.row, rep=a.rep, ok=good == a.n, cpu_s=c1 - c0, cpu_ticks_s=t1 - t0, probes=good,
           rss_kib=memory_kib(a.pid, "VmRSS"), cmd=a.cmd)


def cmd_rss(a):
    # RssAnon is what the process holds of its own (heap, stacks); the rest of VmRSS is pages of
    # files (libcrypto, libc, certheal's text) that every process using them shares.
    record(a.results, row=a.row, rep=a.rep, ok=True, rss_kib=memory_kib(a.pid, "VmRSS"),
           anon_kib=memory_kib(a.pid, "RssAnon"), hwm_kib=memory_kib(a.pid, "VmHWM"), cmd=a.cmd)


def cmd_config(a):
    """A certheal config with --sites sites on the same URL and client certificate."""
    config = {
        "service": {"state_dir": a.state},
        "defaults": {"interval": a.interval, "timeout": "5s",
                     "tls": {"ca_file": a.ca, "client_cert": {"cert_file": a.cert, "key_file": a.key}}},
        "sites": [{"name": f"site{i:04d}", "url": a.url, "connect_to": "127.0.0.1"} for i in range(a.sites)],
        "remediation": {"enabled": False},
    }
    if a.listen:
        config["service"]["status_listen"] = f"127.0.0.1:{a.listen}"
    json.dump(config, sys.stdout, indent=1)


def cmd_port(_):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def spread(values, fmt):
    """median (min–max), or "-" when the row has no such figure."""
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def table_line(row, reps):
    cpu = spread(row["cpu_ms_per_probe"], "{:.3f}") if row["samples"] else "not measured"
    return (row["label"], f'{row["samples"]}/{reps}', cpu, spread(row["ratio_to_s_time"], "{:.2f}"),
            rss_cell(row), spread(row["wall_s"], "{:.2f}"), row["target"])


def rss_cell(row):
    """VmRSS, and beside it the process's own part (RssAnon) when it was measured."""
    text = spread(row["rss_mib"], "{:.1f}")
    if row.get("anon_mib"):
        text += f' (own {statistics.median(row["anon_mib"]):.1f})'
    return text


def cmd_report(a):
    entries = [json.loads(line) for line in open(a.results)]
    stime = {e["rep"]: e["cpu_s"] / e["probes"] for e in entries if e["row"] == "stime" and e["ok"]}
    rows, missing = [], []
    for spec in a.row:  # id|label|target
        row_id, label, target = spec.split("|")
        mine = [e for e in entries if e["row"] == row_id and e["ok"]]
        cpu = [e["cpu_s"] / e["probes"] * 1000 for e in mine if "cpu_s" in e]
        ratio = [e["cpu_s"] / e["probes"] / stime[e["rep"]] for e in mine if "cpu_s" in e and e["rep"] in stime]
        rss = [e["rss_kib"] / 1024 for e in mine if "rss_kib" in e]
        anon = [e["anon_kib"] / 1024 for e in mine if "anon_kib" in e]
        wall = [e["wall_s"] for e in mine if row_id.startswith("probe-big")]
        if not mine:
            missing.append(label)
        rows.append({"id": row_id, "label": label, "target": target, "samples": len(mine),
                     "cpu_ms_per_probe": cpu, "ratio_to_s_time": ratio, "rss_mib": rss, "anon_mib": anon, "wall_s": wall,
                     "command": next((e["cmd"] for e in entries if e["row"] == row_id), "")})
    meta = dict(item.split("=", 1) for item in a.meta)
    if a.json:  # first: the table below may go to a closed pipe
        with open(a.json, "w") as out:
            json.dump({"meta": meta, "rows": rows, "raw": entries}, out, indent=1)
    head = ("tool / mode", "reps ok", "CPU ms/probe med (min–max)", "× s_time med (min–max)", "RSS MiB", "wall s", "target")
    table = [head] + [table_line(r, meta.get("reps", "?")) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    for n, line in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("\nCommands (per repetition; paths are in the bench's work directory, which --keep keeps).")
    print("The certheal configs (scripts/bench-tools.py config): sites site0000... on the same URL with")
    print('connect_to 127.0.0.1, timeout 5s, ca_file and one client_cert (cert_file/key_file), remediation off.')
    for r in rows:
        print(f"  {r['label']}:\n    {r['command']}")
    if missing:
        sys.exit("bench: not measured: " + ", ".join(missing))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def command(func, *options):  # options: "--name" or ("--name", {argparse keywords})
        s = sub.add_parser(func.__name__[4:])
        s.set_defaults(func=func)
        for option in options:
            name, keywords = option if isinstance(option, tuple) else (option, {})
            s.add_argument(name, **keywords)

    integer, number = {"type": int}, {"type": float}
    measured = ["--results", "--row", ("--rep", integer), ("--cmd", {"default": ""})]
    command(cmd_exec, *measured[:3], "--out", "--log", "--parse", ("--repeated", {"type": int, "default": 0}), ("--expect", {"type": int, "default": 0}),
            ("cmd", {"nargs": "+"}))
    command(cmd_wait, ("--pid", integer), "--count", ("--at-least", number), ("--timeout", {"type": float, "default": 60}))
    command(cmd_window, *measured, ("--pid", integer), "--count", ("--seconds", number))
    command(cmd_drive, *measured, ("--pid", integer), "--url", ("--n", integer))
    command(cmd_rss, *measured, ("--pid", integer))
    command(cmd_config, ("--sites", integer), "--url", "--ca", "--cert", "--key", "--state", "--interval", "--listen")
    command(cmd_port)
    command(cmd_report, "--results", "--json", ("--row", {"action": "append"}), ("--meta", {"action": "append", "default": []}))
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
