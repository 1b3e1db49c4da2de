"""Common start-up of the daemons: options, logging, daemonising, pid file, signals.

The parent process of a daemon exits only once the child reports that it is serving
(or why it could not start), so ``daemon-util start`` knows the outcome.
"""

import argparse
import logging
import logging.handlers
import os
import signal
import sys
import threading

from ganeti import constants
from ganeti import errors
from ganeti import pathutils
from ganeti import privsep
from ganeti.utils import io
from ganeti.utils import process


def build_parser(daemon: str, description: str, port: int | None = None,
                 bind: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=daemon, description=description)
    parser.add_argument("-f", "--foreground", action="store_true",
                        help="Do not daemonise; log to stderr as well")
    parser.add_argument("-d", "--debug", action="store_true", help="Enable debug messages")
    parser.add_argument("--syslog", choices=["no", "yes", "only"], default=None,
                        help="Also (yes) or only (only) log to syslog")
    parser.add_argument("--no-user-checks", action="store_true",
                        help="Do not check the daemon runs as its build-time user")
    if port is not None:
        parser.add_argument("-p", "--port", type=int, default=port,
                            help="Port to listen on (default: %(default)s)")
    if bind:
        parser.add_argument("-b", "--bind", default=None,
                            help="Address to bind to (default: all)")
    parser.add_argument("--version", action="version",
                        version="%s (ganeti) %s" % (daemon, constants.RELEASE_VERSION))
    return parser


def setup_logging(daemon: str, debug: bool, foreground: bool, syslog: str | None) -> None:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    fmt = logging.Formatter("%(asctime)s: " + daemon + " pid=%(process)d %(levelname)s "
                            "%(message)s")
    if syslog != "only":
        os.makedirs(pathutils.LOG_DIR, mode=0o750, exist_ok=True)
        handler = logging.handlers.WatchedFileHandler(pathutils.daemon_logfile(daemon))
        handler.setFormatter(fmt)
        root.addHandler(handler)
        try:
            os.chmod(pathutils.daemon_logfile(daemon), 0o600)
        except OSError:
            pass
    if syslog in ("yes", "only"):
        try:
            sys_handler = logging.handlers.SysLogHandler(address="/dev/log")
            sys_handler.setFormatter(logging.Formatter(daemon + "[%(process)d]: "
                                                       "%(levelname)s %(message)s"))
            root.addHandler(sys_handler)
        except OSError:
            pass
    if foreground:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(fmt)
        root.addHandler(stream)


class _Readiness:
    """Pipe from the daemon child to the waiting parent."""

    def __init__(self, fd: int | None):
        self._fd = fd

    def ready(self, error: str | None = None) -> None:
        if self._fd is None:
            return
        message = ("E" + error) if error else "OK"
        try:
            os.write(self._fd, message.encode("utf-8", "replace")[:4000])
            os.close(self._fd)
        except OSError:
            pass
        self._fd = None


def daemonize() -> _Readiness:
    """Fork into the background; the parent waits for the child's readiness report."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(write_fd)
        chunks = []
        while True:
            data = os.read(read_fd, 4096)
            if not data:
                break
            chunks.append(data)
        message = b"".join(chunks).decode("utf-8", "replace")
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        if message == "OK":
            os._exit(0)
        sys.stderr.write("%s\n" % (message[1:] if message.startswith("E") else
                                   "The daemon exited during start-up (see its log)"))
        os._exit(1)
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    os.umask(0o077)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    return _Readiness(write_fd)


def check_pidfile(daemon: str) -> None:
    pid = process.read_pid_file(pathutils.daemon_pidfile(daemon))
    if pid and pid != os.getpid() and process.is_process_alive(pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                cmdline = fh.read().decode("utf-8", "replace")
        except OSError:
            cmdline = ""
        if daemon in cmdline:
            raise errors.GenericError("%s is already running (pid %d)" % (daemon, pid))


def write_pidfile(daemon: str) -> None:
    os.makedirs(pathutils.RUN_DIR, mode=0o775, exist_ok=True)
    io.write_file(pathutils.daemon_pidfile(daemon), "%d\n" % os.getpid(), mode=0o644,
                  fsync=False)


def remove_pidfile(daemon: str) -> None:
    if process.read_pid_file(pathutils.daemon_pidfile(daemon)) == os.getpid():
        io.remove_file(pathutils.daemon_pidfile(daemon))


def check_user(daemon_user: str, options, daemon: str | None = None) -> None:
    """The daemon must start as root (it drops privileges later) or as its user."""
    if getattr(options, "no_user_checks", False):
        return
    if daemon in constants.DAEMONS:
        privsep.check_start_user(daemon)
        return
    import pwd
    try:
        expected = pwd.getpwnam(daemon_user).pw_uid
    except KeyError:
        raise errors.GenericError("User %s does not exist" % daemon_user) from None
    if os.geteuid() not in (0, expected):
        raise errors.GenericError("Running as uid %d, but the build expects user %s"
                                  % (os.geteuid(), daemon_user))


def run_daemon(daemon: str, options, prepare, serve, user: str = "root") -> int:
    """Start a daemon: ``prepare(options)`` binds sockets and returns a state object,
    ``serve(state, stop_event)`` runs until the event is set.

    A daemon whose build-time user is not root gives up root after ``prepare`` at the
    latest (``prepare`` may do it itself right after binding, via
    ``privsep.drop_privileges``), so nothing is ever served as root.
    """
    try:
        check_user(user, options, daemon)
        privsep.check_daemon_secrets(daemon)
        check_pidfile(daemon)
    except errors.GenericError as err:
        sys.stderr.write("%s: %s\n" % (daemon, errors.format_error(err)))
        return 1
    readiness = _Readiness(None) if options.foreground else daemonize()
    setup_logging(daemon, options.debug, options.foreground, options.syslog)
    stop = threading.Event()

    def _on_signal(signum, _frame):
        logging.info("Received signal %d, shutting down", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        state = prepare(options)
        privsep.drop_privileges(daemon)
    except Exception as err:  # noqa: BLE001 - reported to the starting parent
        message = errors.format_error(err) if isinstance(err, errors.GenericError) \
            else "%s: %s" % (err.__class__.__name__, err)
        logging.exception("%s failed to start: %s", daemon, message)
        readiness.ready("%s failed to start: %s" % (daemon, message))
        return 1
    write_pidfile(daemon)
    logging.info("%s started (version %s)", daemon, constants.RELEASE_VERSION)
    readiness.ready()
    try:
        serve(state, stop)
    except Exception:  # noqa: BLE001 - logged before exiting
        logging.exception("%s stopped after an unexpected error", daemon)
        return 1
    finally:
        remove_pidfile(daemon)
        logging.info("%s stopped", daemon)
    return 0
