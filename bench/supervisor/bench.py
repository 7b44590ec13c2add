#!/usr/bin/env python3
"""Supervisor benchmark: llama-orch's daemon beside supervisord (PyPI `supervisor`) on the same stub server,
the same machine, in the same run. Prints each figure, supervisord's, the ratio (llama-orch / supervisord)
and the target:

  (a) crash to new process running, restart delay zero    target <= 5 ms, ratio <= 0.5
  (b) server ready to state healthy (supervisord: RUNNING) target <= 20 ms, ratio <= 0.5
  (c) daemon memory with 50 stub instances over 60 s       target: anonymous memory below supervisord's
      (sampling starts SETTLE seconds after the instances are up, for both, with llama-orch's default HTTP
      probes; RSS, which adds the file-backed pages of code the kernel can drop, and CPU are printed beside it,
      CPU also on supervisord's work: `process` checks, no probes)
  (d) `ps` wall time with 100 instances                    target <= 15 ms, ratio <= 0.5

Usage: bench.py --llama-orch PATH --stub PATH --model PATH [--quick] [--only abcd]
(scripts/bench-supervisor.sh builds those and calls this.)
"""
import argparse
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import children, free_ports  # noqa: E402 (bench/common.py)

TICKS = os.sysconf("SC_CLK_TCK")
BIN = os.path.dirname(sys.executable)


def find_stub(port, exclude=()):
    """The pid of the live stub serving `port`, found by its command line in /proc, or None."""
    wanted = str(port).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if args and args[0].endswith(b"stub-llama-server") and wanted in args and state not in "ZX":
            return int(entry)
    return None


def process_state(pid):
    """The state letter of `pid` from /proc/<pid>/stat ("R", "S", "Z", ...), "X" when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


def stub_child(parent, exclude=()):
    """The pid of a live child of `parent` that runs the stub (its exec done), or None."""
    for pid in children(parent):
        if pid in exclude:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if handle.read().split(b"\0")[0].endswith(b"stub-llama-server"):
                    return pid
        except OSError:
            continue
    return None


def crash_to_restart(supervisor, port, repeats):
    """Median seconds from SIGKILL of the stub on `port` until `supervisor` runs a new one (its exec done),
    seen by looking at the supervisor's children in /proc every ~0.1 ms. It includes the kernel's teardown of
    the killed process (~0.8 ms for the stub here), which no supervisor can skip."""
    times = []
    for _ in range(repeats):
        deadline = time.monotonic() + 30
        pid = None
        while pid is None and time.monotonic() < deadline:
            pid = find_stub(port)
        time.sleep(0.3)
        start = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while time.monotonic() - start < 30:
            if stub_child(supervisor, exclude=(pid,)):
                times.append(time.monotonic() - start)
                break
            # Look every ~0.1 ms without spinning: a busy loop here takes one of the machine's cores from the
            # supervisor and the dying server, and measures the contention instead.
            time.sleep(0.0001)
        else:
            raise RuntimeError(f"no new stub on port {port} within 30 s")
    print(f"    samples (ms): {' '.join(f'{t * 1000:.1f}' for t in times)}", flush=True)
    return statistics.median(times)


def wait_for_new_stub(port, old, timeout=30):
    """Waits until a stub other than `old` serves `port` (the old one may answer until it is gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if find_stub(port, exclude=(old,) if old else ()):
            return
        time.sleep(0.002)
    raise RuntimeError(f"no new stub on port {port} within {timeout} s")


def health_status(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        connection.request("GET", "/health")
        status = connection.getresponse().status
        connection.close()
        return status
    except OSError:
        return 0


def first_ready(port, timeout=60):
    """Epoch seconds when the stub on `port` first answers /health with 200, polled every millisecond."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health_status(port) == 200:
            return time.time()
        time.sleep(0.001)
    raise RuntimeError(f"the stub on port {port} never became ready")


def memory_and_cpu(pid):
    """RSS and its anonymous part (heap, stacks: what the process itself allocated) in bytes, and CPU seconds."""
    with open(f"/proc/{pid}/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if ":" in line)
    rss, anonymous = (int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "RssAnon"))
    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read().rsplit(")", 1)[1].split()
    return rss, anonymous, (int(stat[11]) + int(stat[12])) / TICKS


def thread_cpu(pid, seen):
    """Updates `seen` (thread id -> nanoseconds on a CPU, from /proc/<pid>/task/*/schedstat); False where that
    isn't available."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                seen[tid] = int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return bool(seen)


def sample(pid, seconds):
    """Peak RSS and peak anonymous RSS in bytes, and CPU share in %, of `pid` over `seconds`.

    CPU is summed over the process's threads to the nanosecond (schedstat), looked at every half second: a
    thread that ends is counted up to its last look (a worker thread idles for seconds before it ends). The
    process's own total (/proc/<pid>/stat) counts in clock ticks, 0.017 % of a minute each, too coarse for
    daemons this quiet; it is the fallback where schedstat is missing."""
    *_, ticks_start = memory_and_cpu(pid)
    first, last = {}, {}
    precise = thread_cpu(pid, first)
    start = time.monotonic()
    peak = peak_anonymous = 0
    while time.monotonic() - start < seconds:
        rss, anonymous, _ = memory_and_cpu(pid)
        peak, peak_anonymous = max(peak, rss), max(peak_anonymous, anonymous)
        if precise:
            thread_cpu(pid, last)
        time.sleep(0.5)
    *_, ticks_end = memory_and_cpu(pid)
    if precise:
        thread_cpu(pid, last)
    elapsed = time.monotonic() - start
    if precise:
        busy = sum(value - first.get(tid, 0) for tid, value in last.items()) / 1e9
    else:
        busy = ticks_end - ticks_start
    return peak, peak_anonymous, 100.0 * busy / elapsed


def median_wall_time(argv, runs):
    times = []
    for _ in range(runs):
        start = time.monotonic()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.monotonic() - start)
    return statistics.median(times)


class Supervisord:
    """supervisord with one program per port, each the stub, restarted at once when it exits."""

    def __init__(self, workdir, stub, ports, load_time=0.0):
        os.makedirs(workdir)
        self.workdir = workdir
        self.conf = os.path.join(workdir, "supervisord.conf")
        lines = [
            "[unix_http_server]", f"file={workdir}/supervisor.sock",
            "[supervisord]", f"logfile={workdir}/supervisord.log", f"pidfile={workdir}/supervisord.pid",
            "nodaemon=true", "loglevel=info",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]", f"serverurl=unix://{workdir}/supervisor.sock",
        ]
        for index, port in enumerate(ports):
            lines += [
                f"[program:s{index}]", f"command={stub} --port {port} --load-time {load_time}",
                "autorestart=true", f"startsecs={math.ceil(load_time)}", "startretries=1000000",
                "stopasgroup=true", "killasgroup=true", "stopwaitsecs=2",
                f"stdout_logfile={workdir}/s{index}.log", "redirect_stderr=true",
            ]
        with open(self.conf, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        self.ports = list(ports)
        self.process = subprocess.Popen(
            [os.path.join(BIN, "supervisord"), "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.process.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(find_stub(port) for port in ports):
            time.sleep(0.05)

    def ctl_argv(self, *args):
        return [os.path.join(BIN, "supervisorctl"), "-c", self.conf, *args]

    def ps_argv(self):
        return self.ctl_argv("status")

    def running_count(self, index):
        """How many times program s<index> has entered RUNNING, from supervisord's log."""
        with open(os.path.join(self.workdir, "supervisord.log")) as handle:
            return sum(f"success: s{index} entered RUNNING state" in line for line in handle)

    def running_since(self, index):
        """Epoch seconds of the last 'entered RUNNING state' of program s<index>, from supervisord's log."""
        found = None
        with open(os.path.join(self.workdir, "supervisord.log")) as handle:
            for line in handle:
                if f"success: s{index} entered RUNNING state" in line:
                    day, clock = line.split(" ")[0], line.split(" ")[1]
                    seconds, millis = clock.split(",")
                    found = time.mktime(time.strptime(f"{day} {seconds}", "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
        return found

    def close(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        # supervisord can exit before every program has (seen with 100 of them): nothing of the run stays behind.
        for port in self.ports:
            while (pid := find_stub(port)) is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                time.sleep(0.01)


class Orchestrator:
    """llama-orch's daemon with one instance per port, each the stub, restarted at once when it exits."""

    def __init__(self, workdir, orch, stub, model, ports, load_time=0.0, interval=0.01, start_interval=0.01,
                 check="http"):
        self.root = workdir
        self.orch = orch
        os.makedirs(os.path.join(workdir, "instances"))
        for index, port in enumerate(ports):
            folder = os.path.join(workdir, "instances", f"s{index}")
            os.makedirs(folder)
            config = {
                "name": f"s{index}",
                "model": {"path": model, "context_size": 256},
                "server": {"port": port},
                "gpu": {"backend": "cpu"},
                "healthcheck": {"type": check, "interval": interval, "start_interval": start_interval, "timeout": 1,
                                "retries": 3, "start_period": 30},
                "restart_policy": {"type": "always", "max_retries": 1000000, "initial_delay": 0, "max_delay": 1,
                                   "jitter": 0},
                "binary": {"path": stub},
                "args": ["--load-time", str(load_time)],
            }
            with open(os.path.join(folder, "config.json"), "w") as handle:
                json.dump(config, handle)
        self.start_daemon()

    def start_daemon(self):
        self.run("daemon", "start")
        with open(os.path.join(self.root, "state", "daemon.pid")) as handle:
            self.pid = int(handle.read().split()[0])

    def run(self, *args):
        done = subprocess.run([self.orch, *args, "--root", self.root], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"llama-orch {' '.join(args)} exited with {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def up_all(self):
        self.run("up", "--all", "--wait", "--timeout", "600")

    def ps_argv(self):
        return [self.orch, "ps", "--json", "--root", self.root]

    def healthy_since(self, name):
        rows = json.loads(self.run("ps", "--json"))
        rows = rows if isinstance(rows, list) else rows.get("instances", [])
        row = next(row for row in rows if row["name"] == name)
        return row["since"] if row["state"] == "healthy" else None

    def close(self):
        subprocess.run([self.orch, "down", "--all", "--root", self.root], capture_output=True)
        subprocess.run([self.orch, "daemon", "stop", "--root", self.root], capture_output=True)


def line(label, ours, theirs, unit, scale, target=None, max_ratio=0.5):
    """Prints one figure beside supervisord's; returns whether it met its target, or None for a figure that
    has none (target and max_ratio both None)."""
    ratio = ours / theirs if theirs else float("inf")
    goals = ([f"<= {target * scale:g} {unit}"] if target is not None else []) + (
        [f"ratio <= {max_ratio:g}" if max_ratio < 1 else "ratio < 1"] if max_ratio is not None else [])
    met = (target is None or ours <= target) and (
        max_ratio is None or (ratio < max_ratio if max_ratio >= 1 else ratio <= max_ratio))
    verdict = f"target {', '.join(goals)}: {'met' if met else 'MISSED'}" if goals else "(no target)"
    print(f"{label:<56} llama-orch {ours * scale:9.3f} {unit:<5} supervisord {theirs * scale:9.3f} {unit:<5} "
          f"ratio {ratio:6.2f}   {verdict}", flush=True)
    return met if goals else None


def measure_crash(args, work, repeats):
    """(a) crash to new process running, zero restart delay."""
    [port] = free_ports(1)
    orch = Orchestrator(f"{work}/a-orch", args.llama_orch, args.stub, args.model, [port])
    try:
        orch.up_all()
        ours = crash_to_restart(orch.pid, port, repeats)
    finally:
        orch.close()
    [port] = free_ports(1)
    sup = Supervisord(f"{work}/a-sup", args.stub, [port])
    try:
        theirs = crash_to_restart(sup.pid, port, repeats)
    finally:
        sup.close()
    return [line("(a) crash to new process running", ours, theirs, "ms", 1000, target=0.005)]


def measure_ready(args, work, repeats):
    """(b) server ready to healthy. The stub loads for 1.5 s (503, then 200); readiness is seen by polling it every
    millisecond; each repetition restarts the server. supervisord has no health check: its RUNNING comes `startsecs`
    (whole seconds: 2 for a 1.5 s load) after the spawn, which is the nearest it has."""
    load = 1.5
    [port] = free_ports(1)
    orch = Orchestrator(f"{work}/b-orch", args.llama_orch, args.stub, args.model, [port], load_time=load)
    try:
        samples = []
        for attempt in range(repeats):
            # The first run is the one the daemon started; each later one a restart.
            old = find_stub(port) if attempt else None
            orch.run("restart" if attempt else "up", "s0")
            wait_for_new_stub(port, old)
            ready = first_ready(port)
            since = None
            deadline = time.monotonic() + 30
            while (since is None or since < ready - 1) and time.monotonic() < deadline:
                since = orch.healthy_since("s0")
                time.sleep(0.02)
            samples.append(max(0.0, since - ready))
        ours = statistics.median(samples)
        print(f"    samples (ms): {' '.join(f'{t * 1000:.1f}' for t in samples)}", flush=True)
    finally:
        orch.close()
    [port] = free_ports(1)
    sup = Supervisord(f"{work}/b-sup", args.stub, [port], load_time=load)
    try:
        samples = []
        for attempt in range(repeats):
            old = find_stub(port)
            seen = sup.running_count(0)
            if attempt:
                subprocess.Popen(sup.ctl_argv("restart", "s0"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_for_new_stub(port, old)
            ready = first_ready(port)
            deadline = time.monotonic() + 30
            while sup.running_count(0) <= (seen if attempt else 0) and time.monotonic() < deadline:
                time.sleep(0.02)
            samples.append(max(0.001, sup.running_since(0) - ready))
        theirs = statistics.median(samples)
    finally:
        sup.close()
    return [line("(b) server ready to healthy", ours, theirs, "ms", 1000, target=0.020)]


# (c) measures supervising, not starting: sampling begins this long after the instances are up (for
# supervisord too). By then llama-orch has given back the heap of the burst of work (its idle trim, 3 to 3.5 s
# after the last request), its first probes after that have run, and the worker threads of the burst have
# ended. What `up --all` left resident is printed beside it, not a target.
SETTLE = 20


def measure_footprint(args, work, seconds):
    """(c) the supervisor's own memory and CPU with 50 instances, default probe interval (10 s)."""
    ports = free_ports(50)
    orch = Orchestrator(f"{work}/c-orch", args.llama_orch, args.stub, args.model, ports, interval=10)
    try:
        orch.up_all()
        burst_rss, *_ = memory_and_cpu(orch.pid)
        time.sleep(SETTLE)
        our_rss, our_anonymous, our_cpu = sample(orch.pid, seconds)
        # Not a target: the same after the daemon was killed and started again, re-adopting the 50 servers.
        os.kill(orch.pid, signal.SIGKILL)
        while process_state(orch.pid) not in "ZX":
            time.sleep(0.01)
        orch.start_daemon()
        time.sleep(SETTLE)
        adopted_rss, _, adopted_cpu = sample(orch.pid, max(seconds // 2, 5))
    finally:
        orch.close()
    # The same work as supervisord, which watches its processes and probes nothing: the `process` checker looks
    # at each server's /proc entry every 10 s instead of sending it an HTTP request. The CPU ratio is taken
    # here; with HTTP probes it would compare 50 TCP exchanges every 10 s against none (printed, not a ratio
    # target; the absolute 0.2 % holds for it too).
    ports = free_ports(50)
    orch = Orchestrator(f"{work}/c-orch-process", args.llama_orch, args.stub, args.model, ports, interval=10,
                        check="process")
    try:
        orch.up_all()
        time.sleep(SETTLE)
        plain_rss, _, plain_cpu = sample(orch.pid, seconds)
    finally:
        orch.close()
    ports = free_ports(50)
    sup = Supervisord(f"{work}/c-sup", args.stub, ports)
    try:
        time.sleep(SETTLE)
        their_rss, their_anonymous, their_cpu = sample(sup.pid, seconds)
    finally:
        sup.close()
    mib = 1 << 20
    print(f"    right after `up --all`: llama-orch {burst_rss / mib:.1f} MiB RSS", flush=True)
    print(f"    after `kill -9` of the daemon and `daemon start` (50 servers re-adopted): llama-orch "
          f"{adopted_rss / mib:.1f} MiB RSS, {adopted_cpu:.3f} % CPU", flush=True)
    print(f"    `process` checks (supervisord's work), RSS: llama-orch {plain_rss / mib:.1f} MiB", flush=True)
    return [
        line(f"(c) anonymous memory, 50 instances, HTTP probes ({seconds} s)", our_anonymous, their_anonymous,
             "MiB", 1 / mib, max_ratio=1),
        line(f"    RSS (anonymous + file-backed code), same run", our_rss, their_rss, "MiB", 1 / mib, max_ratio=None),
        line(f"    CPU, HTTP probes every 10 s, same run", our_cpu, max(their_cpu, 1e-6), "%", 1, max_ratio=None),
        line(f"    CPU, process checks (supervisord's work) ({seconds} s)", plain_cpu, max(their_cpu, 1e-6), "%", 1,
             max_ratio=None),
    ]


def measure_ps(args, work, repeats):
    """(d) `ps` with 100 instances (default probe interval: 100 instances probed every 10 ms would be a load test)."""
    ports = free_ports(100)
    orch = Orchestrator(f"{work}/d-orch", args.llama_orch, args.stub, args.model, ports, interval=10)
    try:
        orch.up_all()
        time.sleep(1)  # steady state: the last instance's first probes are over (supervisord gets the same)
        ours = median_wall_time(orch.ps_argv(), repeats * 3)
    finally:
        orch.close()
    ports = free_ports(100)
    sup = Supervisord(f"{work}/d-sup", args.stub, ports)
    try:
        time.sleep(1)
        theirs = median_wall_time(sup.ps_argv(), repeats * 3)
    finally:
        sup.close()
    return [line("(d) ps with 100 instances", ours, theirs, "ms", 1000, target=0.015)]


def main():
    # A SIGTERM (from `timeout`, CI) unwinds through the `finally` blocks, so no daemon or stub is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-orch", required=True)
    parser.add_argument("--stub", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--quick", action="store_true", help="3 repetitions and 20 s of sampling (CI)")
    parser.add_argument("--only", default="abcd", help="the measurements to run, e.g. 'ab' (default: abcd)")
    args = parser.parse_args()
    args.llama_orch, args.stub, args.model = map(os.path.abspath, (args.llama_orch, args.stub, args.model))
    repeats, seconds = (3, 20) if args.quick else (10, 60)
    results = []
    with tempfile.TemporaryDirectory(prefix="llama-orch-bench-") as work:
        if "a" in args.only:
            results += measure_crash(args, work, repeats)
        if "b" in args.only:
            results += measure_ready(args, work, repeats)
        if "c" in args.only:
            results += measure_footprint(args, work, seconds)
        if "d" in args.only:
            results += measure_ps(args, work, repeats)
    targets = [result for result in results if result is not None]
    print(f"{sum(targets)} of {len(targets)} targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
