"""Starting and stopping the benchmark's processes, and reading CPU time from ``/proc``.

Every process is started pinned with ``taskset``, in a session of its own (so a Ctrl-C at the
terminal reaches only the harness, which then stops them in order), with its output in a log
file. ``ProcessGroup`` remembers every process-tree member it has seen, by PID and start time,
so that stopping can SIGTERM the roots, SIGKILL them after a grace period, and finally SIGKILL
any descendant left behind without ever signalling a PID that was reused by someone else. CPU
time is user+system ticks from ``/proc/PID/stat`` (with the children a process has reaped), and
the system part apart, summed over a whole tree; snapshots of every process and of the first line of ``/proc/stat``
also tell how much CPU processes the harness did not start used during a measurement.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import NamedTuple

TICK = os.sysconf("SC_CLK_TCK")
STOP_GRACE_S = 12.0  # lychgate drains connections for up to 10 s on SIGTERM


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcStat(NamedTuple):
    """What the harness reads from one ``/proc/PID/stat``."""
    comm: str
    ppid: int
    start: str  # start time in ticks after boot: tells a reused PID apart
    ticks: int  # user+system CPU of the process, plus that of the children it has waited for
    system: int  # the system (kernel) part of ticks


def _stat(pid: int) -> ProcStat | None:
    """One process's stat, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()  # fields[0] is field 3 of proc(5), "state"
    return ProcStat(comm, int(fields[1]), fields[19], sum(int(fields[i]) for i in (11, 12, 13, 14)),
                    int(fields[12]) + int(fields[14]))


def _process_table() -> dict[int, ProcStat]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                table[int(entry)] = stat
    return table


def _tree(root: int, table: dict[int, ProcStat]) -> list[int]:
    """``root`` and all its descendants present in ``table``."""
    children: dict[int, list[int]] = {}
    for pid, stat in table.items():
        children.setdefault(stat.ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def _machine_ticks() -> dict[str, int]:
    """Busy ticks of the whole machine so far: all (user, nice, system, irq, softirq, steal) and
    the interrupt part alone (irq, softirq)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return {"busy": sum(values[i] for i in (0, 1, 2, 5, 6, 7)), "interrupts": values[5] + values[6]}


def cpu_snapshot(roots: dict[str, int]) -> dict:
    """CPU ticks so far of each root's tree, of this harness's whole tree (everything it started,
    wrk included once reaped), of every other process by (pid, start time), and of the machine."""
    table = _process_table()
    ours = set(_tree(os.getpid(), table))
    return {"time": time.monotonic(),
            "trees": {label: sum(table[p].ticks for p in _tree(root, table)) for label, root in roots.items()},
            "trees_system": {label: sum(table[p].system for p in _tree(root, table)) for label, root in roots.items()},
            "ours": sum(table[p].ticks for p in ours),
            "others": {(pid, st.start): (st.comm, st.ticks) for pid, st in table.items() if pid not in ours},
            **_machine_ticks()}


def cpu_used(before: dict, after: dict) -> dict:
    """CPU seconds used between two snapshots, and the wall seconds between them. ``others`` is
    the CPU of processes the harness did not start; ``other_top`` names the largest of them (at
    least 1 % of one CPU)."""
    others: dict[str, int] = {}
    for key, (comm, ticks) in after["others"].items():
        others[comm] = others.get(comm, 0) + ticks - before["others"].get(key, (comm, 0))[1]
    wall = after["time"] - before["time"]
    top = sorted(((t, comm) for comm, t in others.items() if t / TICK >= 0.01 * wall), reverse=True)[:3]
    return {"wall": wall,
            "trees": {k: (after["trees"][k] - v) / TICK for k, v in before["trees"].items()},
            "trees_system": {k: (after["trees_system"][k] - v) / TICK for k, v in before["trees_system"].items()},
            **{k: (after[k] - before[k]) / TICK for k in ("ours", "busy", "interrupts")},
            "others": sum(others.values()) / TICK,
            "other_top": {comm: ticks / TICK for ticks, comm in top}}


class ProcessGroup:
    """Processes started together (one scenario's, or in interleaved mode every scenario's);
    a context manager that always stops them on exit."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.seen: dict[int, str] = {}  # pid -> start time field, for every tree member seen

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def start(self, label: str, cmd: list[str], cpu: int, cwd: Path | None = None) -> subprocess.Popen:
        """Start ``cmd`` pinned to ``cpu``, output to ``<log_dir>/<label>.log``."""
        with open(self.log_dir / f"{label}.log", "ab") as log:
            proc = subprocess.Popen(["taskset", "-c", str(cpu), *cmd], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                    start_new_session=True)
        self.procs.append((label, proc))
        self.remember()
        return proc

    def log_path(self, label: str) -> Path:
        return self.log_dir / f"{label}.log"

    def remember(self) -> None:
        """Record the current members of every tree, so leftovers can be found at stop time."""
        table = _process_table()
        for _, proc in self.procs:
            for pid in _tree(proc.pid, table):
                self.seen[pid] = table[pid].start

    def stop_all(self) -> None:
        """SIGTERM the roots (last started first), SIGKILL after the grace, then any leftover."""
        self.remember()
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._kill_leftovers()
        self.procs.clear()

    def _kill_leftovers(self) -> None:
        for pid, started in self.seen.items():
            stat = _stat(pid)
            if stat is not None and stat.start == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.seen.clear()


class TimeSlicer:
    """Lets one process group at a time run, in turn, ``slice_s`` each (SIGSTOP / SIGCONT), from
    ``start`` until ``stop``, which resumes them all. The groups' loads can then run at once
    without sharing a core at the scheduler's granularity: each group has the core to itself for a
    slice at a time, with warm caches, and a slow spell of the machine lasting longer than a few
    slices hits every group alike. ``running_within`` tells how long a group had its turns in a
    window (a load's window need not hold whole rotations: a slice more or less would skew it)."""

    def __init__(self, groups: dict[str, int], slice_s: float, cpu: int):
        self.groups, self.slice_s, self.cpu = groups, slice_s, cpu
        self.turns: list[tuple[str, float, float]] = []  # (group, from, to), monotonic
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._rotate, name="time-slicer", daemon=True)

    def _signal(self, label: str, sig: int) -> None:
        try:
            os.killpg(self.groups[label], sig)
        except ProcessLookupError:  # it died: the harness reports that after the run
            pass

    def start(self) -> None:
        for label in self.groups:
            self._signal(label, signal.SIGSTOP)
        self._thread.start()

    def _rotate(self) -> None:
        os.sched_setaffinity(0, {self.cpu})  # this thread only: off the core the groups take turns on
        labels = list(self.groups)
        turn = 0
        while not self._done.is_set():
            label = labels[turn % len(labels)]
            began = time.monotonic()
            self._signal(label, signal.SIGCONT)
            self._done.wait(self.slice_s)
            self._signal(label, signal.SIGSTOP)
            self.turns.append((label, began, time.monotonic()))
            turn += 1

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        for label in self.groups:
            self._signal(label, signal.SIGCONT)

    def running_within(self, label: str, start: float, end: float) -> float:
        """Seconds of ``label``'s turns between ``start`` and ``end`` (monotonic)."""
        return sum(max(0.0, min(to, end) - max(began, start)) for who, began, to in self.turns if who == label)
