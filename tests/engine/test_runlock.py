"""The run-folder lock: exclusive between processes, released by the kernel when its holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from drn.engine.runlock import LOCK_NAME, FolderBusyError, FolderLock
from tests.helpers.paths import REPO


def _holder(folder) -> subprocess.Popen:
    """A child process that takes `folder`'s lock, says so, and sleeps."""
    code = textwrap.dedent(f"""
        import sys, time
        from drn.engine.runlock import FolderLock
        FolderLock({str(folder)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_live_holder_blocks_and_a_killed_one_does_not(tmp_path):
    child = _holder(tmp_path)
    try:
        with pytest.raises(FolderBusyError, match=f"{tmp_path} is in use by pid {child.pid}"):
            FolderLock(tmp_path).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    lock = FolderLock(tmp_path).acquire()  # the kernel dropped the dead holder's lock
    assert lock.stale
    assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid {os.getpid()}")
    lock.release()
    assert (tmp_path / LOCK_NAME).read_text() == ""


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(FolderBusyError):
            FolderLock(tmp_path).acquire()
    with FolderLock(tmp_path) as again:
        assert not again.stale
