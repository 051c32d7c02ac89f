"""Spawn the MPI worker under mpiexec with a timeout, killing the whole process group on expiry."""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

WORKER = pathlib.Path(__file__).resolve().parent / "worker.py"
ROOT = WORKER.parents[2]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def mpiexec():
    """The mpiexec of the mpich wheel next to this Python, else one on PATH; skip the test when there is none."""
    pytest.importorskip("mpi4py")
    here = pathlib.Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec next to sys.executable or on PATH (pip install 'tinydl[mpi]')")
    return found


def start(n, scenario, out, via_mpi4py=True, **env):
    """A running `mpiexec -n N python -m mpi4py worker.py SCENARIO OUT` in its own process group
    (`via_mpi4py=False`: plain `python worker.py ...`)."""
    environ = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}  # the ranks choose their threads
    environ.update({"PYTHONPATH": str(ROOT)}, **{k: str(v) for k, v in env.items()})
    runner = ["-m", "mpi4py"] if via_mpi4py else []
    cmd = [mpiexec(), "-n", str(n), sys.executable, *runner, str(WORKER), scenario, str(out)]
    return subprocess.Popen(cmd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(proc, timeout):
    """(return code, output) of a job, SIGKILLing its process group if it outlives `timeout` seconds."""
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        output, _ = proc.communicate()
        pytest.fail(f"MPI job did not finish within {timeout} s:\n{output}")
    return proc.returncode, output


def run(n, scenario, out, timeout=120, **env):
    """Run a job to completion; fail the test with its output when it exits non-zero."""
    code, output = finish(start(n, scenario, out, **env), timeout)
    assert code == 0, f"mpiexec -n {n} {scenario} failed ({code}):\n{output}"
    return output


def kill(proc):
    """SIGKILL every process of the job (mpiexec and its ranks)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(path, proc, timeout):
    """Wait until `path` exists (or the job ends, or `timeout` passes); True when it exists."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()
