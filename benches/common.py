"""Shared by the benches/ scripts: per-process peak memory and the --json result rows that
benches/summary.py turns into one table."""
import json, os, resource, subprocess, sys, time


# A child's ru_maxrss starts at its parent's RSS at fork time (and is kept across exec), so a
# command forked straight from a bench process that holds a corpus would report that
# process's memory. It is forked from this small shim instead, which reports the peak.
SHIM = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, ru = os.wait4(pid, 0)
sys.stderr.write(f"\\n__PEAK_KB__ {ru.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_peak(cmd, **kw):
    """Runs cmd; returns (wall seconds, peak RSS MB of that command alone, stdout)."""
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", SHIM, *map(str, cmd)], capture_output=True, text=True, **kw)
    wall = time.perf_counter() - start
    err, _, peak = p.stderr.rpartition("__PEAK_KB__ ")
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd, p.stdout, err)
    return wall, int(peak.strip()) / 1024, p.stdout


def self_peak_mb():
    """This process's peak RSS so far (MB): for peers that run in-process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(path, rows):
    """Appends result rows ({bench, tool, seconds, peak_mb, quality, note}) to a JSON file."""
    if not path:
        return
    old = json.load(open(path)) if os.path.exists(path) else []
    json.dump(old + rows, open(path, "w"), indent=1)
