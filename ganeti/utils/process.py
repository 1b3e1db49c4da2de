"""Running external programs: an argument list, a timeout, a clean environment.

Nothing here runs a shell string.  Errors name the command and its output.
"""

import logging
import os
import signal
import subprocess
from dataclasses import dataclass

from ganeti import errors

SAFE_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"


@dataclass
class RunResult:
    cmd: list
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def failed(self) -> bool:
        return self.timed_out or self.exit_code != 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def fail_reason(self) -> str:
        if self.timed_out:
            return "timed out"
        if self.signal is not None:
            return "terminated by signal %s" % self.signal
        return "exited with exit code %s" % self.exit_code

    def describe_failure(self) -> str:
        out = self.output.strip()
        msg = "Command %s %s" % (" ".join(self.cmd), self.fail_reason)
        if out:
            msg += ": %s" % out[-2000:]
        return msg


def run_cmd(cmd: list, env: dict | None = None, reset_env: bool = False,
            cwd: str = "/", timeout: float | None = None, input_data: str | None = None,
            output_file: str | None = None, merge_stderr: bool = False) -> RunResult:
    """Run ``cmd`` (a list) and return its result; never raises for a failing exit.

    ``reset_env`` gives the program exactly ``env`` plus a safe PATH; otherwise ``env``
    is added to this process's environment.  ``output_file`` appends stdout and
    stderr to that file instead of capturing them.
    """
    if isinstance(cmd, str):
        raise errors.ProgrammerError("run_cmd takes an argument list, not a string")
    cmd = [str(c) for c in cmd]
    if reset_env:
        run_env = {"PATH": SAFE_PATH}
        run_env.update(env or {})
    else:
        run_env = dict(os.environ)
        run_env.update(env or {})
    stdin = subprocess.PIPE if input_data is not None else subprocess.DEVNULL
    out_fh = None
    try:
        if output_file:
            out_fh = open(output_file, "a")
            stdout, stderr = out_fh, subprocess.STDOUT
        else:
            stdout = subprocess.PIPE
            stderr = subprocess.STDOUT if merge_stderr else subprocess.PIPE
        try:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=stdout, stderr=stderr,
                                    cwd=cwd, env=run_env, close_fds=True,
                                    start_new_session=True, text=True)
        except OSError as err:
            return RunResult(cmd, 127, None, "", "cannot execute %s: %s" % (cmd[0], err))
        timed_out = False
        try:
            out, err = proc.communicate(input=input_data, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
    finally:
        if out_fh:
            out_fh.close()
    rc = proc.returncode
    sig = -rc if rc is not None and rc < 0 else None
    result = RunResult(cmd, rc if sig is None else None, sig, out or "", err or "",
                       timed_out)
    if result.failed:
        logging.debug("Command %s failed: %s", cmd, result.fail_reason)
    return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def check_cmd(cmd: list, **kwargs) -> RunResult:
    """Like run_cmd, but raise CommandError naming the command when it fails."""
    result = run_cmd(cmd, **kwargs)
    if result.failed:
        raise errors.CommandError(result.describe_failure())
    return result


def is_process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def read_pid_file(path: str) -> int:
    """Return the pid in a pid file, 0 when missing or malformed."""
    try:
        with open(path) as fh:
            return int(fh.read().strip() or 0)
    except (OSError, ValueError):
        return 0
