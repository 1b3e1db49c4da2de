"""QMP, the QEMU Machine Protocol: a sans-I/O state machine and a small socket client.

``QmpProtocol`` turns received bytes into messages (greeting, command returns,
errors, asynchronous events) and commands into bytes; it does no I/O, so it is tested
on byte strings.  ``QmpClient`` drives it over the monitor's unix socket.
"""

import json
import select
import socket
import time
from dataclasses import dataclass, field

from ganeti import errors

STATE_GREETING = "greeting"      # waiting for {"QMP": ...}
STATE_NEGOTIATING = "negotiating"  # qmp_capabilities sent, waiting for its return
STATE_READY = "ready"            # commands may be sent
_MAX_LINE = 16 * 1024 * 1024


class QmpError(errors.HypervisorError):
    """A QMP command failed (``error_class`` and ``desc`` from qemu) or I/O broke."""

    def __init__(self, desc: str, error_class: str = "GenericError"):
        super().__init__(desc)
        self.error_class = error_class
        self.desc = desc


@dataclass
class Greeting:
    version: tuple[int, int, int]
    capabilities: list = field(default_factory=list)


@dataclass
class Return:
    id: object
    value: object


@dataclass
class Error:
    id: object
    error_class: str
    desc: str


@dataclass
class Event:
    name: str
    data: dict
    timestamp: float


class QmpProtocol:
    """Bytes in, messages out; commands in, bytes out."""

    def __init__(self):
        self.state = STATE_GREETING
        self.greeting: Greeting | None = None
        self._buf = b""
        self._next_id = 0
        self._caps_id = None

    def receive(self, data: bytes) -> list:
        """Parse ``data`` (any chunking); returns the complete messages in order."""
        self._buf += data
        if len(self._buf) > _MAX_LINE and b"\n" not in self._buf:
            raise QmpError("QMP message longer than %d bytes" % _MAX_LINE)
        messages = []
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            line = line.strip()
            if line:
                messages.extend(self._handle(line))
        return messages

    def _handle(self, line: bytes) -> list:
        try:
            msg = json.loads(line)
        except ValueError:
            raise QmpError("Invalid QMP message: %r" % line[:200]) from None
        if not isinstance(msg, dict):
            raise QmpError("Invalid QMP message (not an object): %r" % line[:200])
        if "QMP" in msg:
            if self.state != STATE_GREETING:
                raise QmpError("Unexpected QMP greeting")
            info = msg["QMP"].get("version", {}).get("qemu", {})
            self.greeting = Greeting((info.get("major", 0), info.get("minor", 0),
                                      info.get("micro", 0)),
                                     list(msg["QMP"].get("capabilities", [])))
            return [self.greeting]
        if "event" in msg:
            stamp = msg.get("timestamp", {})
            return [Event(msg["event"], msg.get("data", {}),
                          stamp.get("seconds", 0) + stamp.get("microseconds", 0) / 1e6)]
        if "return" in msg or "error" in msg:
            if self.state == STATE_GREETING:
                raise QmpError("QMP answer before the greeting")
            if self.state == STATE_NEGOTIATING and msg.get("id") == self._caps_id:
                if "error" in msg:
                    raise QmpError("qmp_capabilities failed: %s"
                                   % msg["error"].get("desc", ""))
                self.state = STATE_READY
                return []
            if "error" in msg:
                err = msg["error"]
                return [Error(msg.get("id"), err.get("class", "GenericError"),
                              err.get("desc", ""))]
            return [Return(msg.get("id"), msg["return"])]
        raise QmpError("Unknown QMP message: %r" % line[:200])

    def _encode(self, name: str, arguments: dict | None) -> tuple[int, bytes]:
        self._next_id += 1
        msg: dict = {"execute": name, "id": self._next_id}
        if arguments:
            msg["arguments"] = arguments
        return self._next_id, json.dumps(msg).encode() + b"\r\n"

    def negotiate(self) -> bytes:
        """The qmp_capabilities command that leaves capabilities negotiation mode."""
        if self.state != STATE_GREETING or self.greeting is None:
            raise QmpError("Cannot negotiate before the greeting")
        self._caps_id, data = self._encode("qmp_capabilities", None)
        self.state = STATE_NEGOTIATING
        return data

    def command(self, name: str, arguments: dict | None = None) -> tuple[int, bytes]:
        """(id, bytes) of a command; its answer carries the same id."""
        if self.state != STATE_READY:
            raise QmpError("QMP command %s sent before negotiation ended" % name)
        return self._encode(name, arguments)


class QmpClient:
    """Blocking client on a unix socket; use as a context manager."""

    def __init__(self, path: str, timeout: float = 10.0):
        self.path = path
        self.timeout = timeout
        self.events: list[Event] = []
        self._proto = QmpProtocol()
        self._sock: socket.socket | None = None
        self._answers: dict = {}

    def __enter__(self) -> "QmpClient":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as err:
            sock.close()
            raise QmpError("Cannot connect to the QMP socket %s: %s"
                           % (self.path, err)) from None
        self._sock = sock
        deadline = time.monotonic() + self.timeout
        while self._proto.greeting is None:
            self._pump(deadline)
        self._sock.sendall(self._proto.negotiate())
        while self._proto.state != STATE_READY:
            self._pump(deadline)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _pump(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise QmpError("Timeout waiting for qemu on %s" % self.path)
        ready, _, _ = select.select([self._sock], [], [], remaining)
        if not ready:
            raise QmpError("Timeout waiting for qemu on %s" % self.path)
        try:
            data = self._sock.recv(65536)
        except OSError as err:
            raise QmpError("Reading from %s failed: %s" % (self.path, err)) from None
        if not data:
            raise QmpError("qemu closed the QMP connection %s" % self.path,
                           "ConnectionClosed")
        for msg in self._proto.receive(data):
            if isinstance(msg, Event):
                self.events.append(msg)
            elif isinstance(msg, (Return, Error)):
                self._answers[msg.id] = msg

    def execute(self, name: str, arguments: dict | None = None,
                timeout: float | None = None):
        """Run a command and return its "return" value; QmpError on "error"."""
        if self._sock is None:
            raise QmpError("QMP client is not connected")
        cmd_id, data = self._proto.command(name, arguments)
        try:
            self._sock.sendall(data)
        except OSError as err:
            raise QmpError("Writing to %s failed: %s" % (self.path, err)) from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while cmd_id not in self._answers:
            self._pump(deadline)
        answer = self._answers.pop(cmd_id)
        if isinstance(answer, Error):
            raise QmpError("%s: %s" % (name, answer.desc), answer.error_class)
        return answer.value

    def wait_event(self, name: str, timeout: float) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for idx, event in enumerate(self.events):
                if event.name == name:
                    return self.events.pop(idx)
            self._pump(deadline)
