#!/usr/bin/env python3
"""Run one command; print its wall time and its user+system CPU time, in ms, as JSON.

Wall is measured around fork/exec/wait4 (this interpreter's own start is outside it);
CPU comes from wait4's rusage (microseconds, unlike /usr/bin/time's 10 ms). Exits with
the command's status; its stdout and stderr pass through.
    python3 bench/lib/rusage.py CMD [ARG ...]
"""
import json, os, sys, time

t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = (time.perf_counter() - t0) * 1000
sys.stderr.write('RUSAGE ' + json.dumps({'wallMs': wall, 'cpuMs': (ru.ru_utime + ru.ru_stime) * 1000}) + '\n')
sys.exit(os.waitstatus_to_exitcode(status))
