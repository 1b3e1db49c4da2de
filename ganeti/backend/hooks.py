"""Running hook scripts on a node with run-parts rules.

Only regular, executable files whose names match ``^[a-zA-Z0-9_-]+$`` run, in sorted
order, with exactly the environment given (all values strings) plus a safe PATH.
"""

import os
import re

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti.backend import restricted
from ganeti.backend.node import _check
from ganeti.utils import process

# \Z, not $: a name ending in a newline is not a safe name
HOOK_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+\Z")
HPATH_RE = re.compile(r"^[a-z0-9-]+$")
HOOK_TIMEOUT = 3600


def _dir_is_safe(path: str) -> str | None:
    """Why a hooks directory must not be used, or None when it is fine (S5 stricter 4)."""
    return restricted.script_dir_problem(path)


def run_hooks(hpath: str, phase: str, env: dict, base_dir: str | None = None) -> list:
    """Return [(relative script name, status, output)] for one hooks directory."""
    _check(isinstance(hpath, str) and bool(HPATH_RE.match(hpath)),
           "Invalid hooks path %r" % (hpath,))
    _check(phase in (constants.HOOKS_PHASE_PRE, constants.HOOKS_PHASE_POST),
           "Invalid hooks phase %r" % (phase,))
    _check(isinstance(env, dict), "Hooks environment must be a dict")
    subdir = "%s-%s.d" % (hpath, phase)
    directory = os.path.join(base_dir or pathutils.HOOKS_BASE_DIR, subdir)
    if not os.path.isdir(directory):
        return []
    # the base directory too: whoever may write it can swap the subdirectory
    problem = _dir_is_safe(directory) or _dir_is_safe(os.path.dirname(directory))
    if problem:
        return [(subdir, constants.HKR_FAIL, "Hooks directory refused: %s" % problem)]
    run_env = {str(k): "" if v is None else str(v) for k, v in env.items()}
    results = []
    for name in sorted(os.listdir(directory)):
        if name.startswith("."):
            continue
        rel = "%s/%s" % (subdir, name)
        path = os.path.join(directory, name)
        if not HOOK_NAME_RE.match(name) or not os.path.isfile(path) or \
                not os.access(path, os.X_OK):
            results.append((rel, constants.HKR_SKIP, ""))
            continue
        problem = restricted.script_file_problem(path)
        if problem:
            results.append((rel, constants.HKR_FAIL, "Hook script refused: %s" % problem))
            continue
        result = process.run_cmd([path], env=run_env, reset_env=True, cwd="/",
                                 timeout=HOOK_TIMEOUT, merge_stderr=True)
        status = constants.HKR_FAIL if result.failed else constants.HKR_SUCCESS
        output = result.output
        if result.timed_out:
            output += "\n(timed out after %d seconds)" % HOOK_TIMEOUT
        results.append((rel, status, output))
    return results


def hooks_runner(hpath, phase, env):
    try:
        return run_hooks(hpath, phase, env)
    except OSError as err:
        raise errors.RpcError("Error while running hooks %s: %s" % (hpath, err)) from None
