"""Luxi: JSON messages terminated by 0x03 over a Unix stream socket.

``Framer`` and the encode/parse functions are pure (no I/O) and unit-tested on bytes;
``Client`` and ``Server`` wrap them around sockets.
"""

import logging
import os
import socket
import threading
import time

from ganeti import constants
from ganeti import errors
from ganeti import serializer

EOM = constants.LUXI_EOM

# Methods answered by masterd (job handling); everything else goes to luxid.
JOB_METHODS = frozenset([
    "SubmitJob", "SubmitJobToDrainedQueue", "SubmitManyJobs", "WaitForJobChange",
    "CancelJob", "ArchiveJob", "AutoArchiveJobs", "ChangeJobPriority", "SetDrainFlag",
    "SetWatcherPause", "PickupJob",
])
QUERY_METHODS = frozenset([
    "Query", "QueryFields", "QueryJobs", "QueryInstances", "QueryNodes", "QueryGroups",
    "QueryNetworks", "QueryExports", "QueryConfigValues", "QueryClusterInfo",
    "QueryTags", "QueryFilters",
])
ALL_METHODS = JOB_METHODS | QUERY_METHODS | frozenset(["ReplaceFilter", "DeleteFilter"])


class Framer:
    """Splits a byte stream into messages; refuses oversized ones."""

    def __init__(self, max_size: int = constants.LUXI_MAX_MESSAGE):
        self._buf = bytearray()
        self._max = max_size

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        messages = []
        while True:
            idx = self._buf.find(EOM)
            if idx < 0:
                break
            if idx > self._max:
                # a whole message can arrive in one chunk: check each one, too
                raise errors.ProtocolError("Message exceeds the maximum size of %d bytes"
                                           % self._max)
            messages.append(bytes(self._buf[:idx]))
            del self._buf[:idx + 1]
        if len(self._buf) > self._max:
            raise errors.ProtocolError("Message exceeds the maximum size of %d bytes"
                                       % self._max)
        return messages

    @property
    def pending(self) -> int:
        return len(self._buf)


def _encode(obj) -> bytes:
    data = serializer.dump_json(obj).encode("utf-8")
    if EOM in data:
        raise errors.ProtocolError("Message contains the end-of-message byte")
    return data + EOM


def encode_request(method: str, args, version: int | None = constants.LUXI_VERSION) -> bytes:
    request = {constants.LUXI_KEY_METHOD: method, constants.LUXI_KEY_ARGS: args}
    if version is not None:
        request[constants.LUXI_KEY_VERSION] = version
    return _encode(request)


def parse_request(data: bytes) -> tuple[str, list, int | None]:
    """Validate one request; raise ProtocolError describing what is wrong."""
    try:
        msg = serializer.load_json(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise errors.ProtocolError("Invalid LUXI request (not JSON): %s" % err) from None
    except RecursionError:
        raise errors.ProtocolError("Invalid LUXI request (nested too deeply)") from None
    if not isinstance(msg, dict):
        raise errors.ProtocolError("Invalid LUXI request (not a JSON object)")
    method = msg.get(constants.LUXI_KEY_METHOD)
    args = msg.get(constants.LUXI_KEY_ARGS)
    version = msg.get(constants.LUXI_KEY_VERSION)
    if not isinstance(method, str) or args is None:
        raise errors.ProtocolError("Invalid LUXI request (method or args missing)")
    if not isinstance(args, (list, tuple)):
        args = [args]
    if version is not None and not isinstance(version, int):
        raise errors.ProtocolError("Invalid LUXI request (version is not a number)")
    return method, list(args), version


def encode_response(success: bool, result, version: int | None = constants.LUXI_VERSION) -> bytes:
    response = {constants.LUXI_KEY_SUCCESS: success, constants.LUXI_KEY_RESULT: result}
    if version is not None:
        response[constants.LUXI_KEY_VERSION] = version
    return _encode(response)


def parse_response(data: bytes, expected_version: int | None = constants.LUXI_VERSION):
    """Return the result, or raise the error the server sent."""
    try:
        msg = serializer.load_json(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise errors.ProtocolError("Invalid LUXI response (not JSON): %s" % err) from None
    if not (isinstance(msg, dict) and constants.LUXI_KEY_SUCCESS in msg
            and constants.LUXI_KEY_RESULT in msg):
        raise errors.ProtocolError("Invalid LUXI response: %r" % (msg,))
    version = msg.get(constants.LUXI_KEY_VERSION)
    if (expected_version is not None and version is not None
            and version != expected_version):
        raise errors.LuxiError("LUXI version mismatch, client %s, response %s"
                               % (expected_version, version))
    result = msg[constants.LUXI_KEY_RESULT]
    if msg[constants.LUXI_KEY_SUCCESS]:
        return result
    err = errors.decode_exception(result)
    if err is not None:
        raise err
    raise errors.RequestError(result)


def socket_for_method(method: str, master_socket: str, query_socket: str) -> str:
    override = os.environ.get("FORCE_LUXI_SOCKET")
    if override == "master":
        return master_socket
    if override == "query":
        return query_socket
    if override:
        return override
    return master_socket if method in JOB_METHODS else query_socket


class Transport:
    """One connected Unix socket carrying luxi messages."""

    def __init__(self, address: str, timeout: float = constants.LUXI_DEF_RWTO,
                 connect_timeout: float = constants.LUXI_DEF_CTMO):
        self.address = address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._framer = Framer()
        self._pending: list[bytes] = []
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self._sock.settimeout(max(0.1, deadline - time.monotonic()))
                self._sock.connect(address)
                break
            except (FileNotFoundError, ConnectionRefusedError) as err:
                if time.monotonic() >= deadline:
                    self._sock.close()
                    raise errors.NoMasterError(address, str(err)) from None
                time.sleep(0.2)
            except PermissionError as err:
                self._sock.close()
                raise errors.PermissionError(address, str(err)) from None
            except OSError as err:
                self._sock.close()
                raise errors.NoMasterError(address, str(err)) from None
        self._sock.settimeout(timeout)

    def call(self, request: bytes) -> bytes:
        try:
            self._sock.sendall(request)
            while not self._pending:
                data = self._sock.recv(65536)
                if not data:
                    raise errors.ConnectionClosedError("Connection closed by the daemon")
                self._pending.extend(self._framer.feed(data))
        except socket.timeout:
            raise errors.TimeoutError("Timeout while talking to %s" % self.address) from None
        except OSError as err:
            raise errors.ConnectionClosedError("Error talking to %s: %s"
                                               % (self.address, err)) from None
        return self._pending.pop(0)

    def close(self) -> None:
        self._sock.close()


class Client:
    """Luxi client: job methods go to masterd, queries to luxid."""

    def __init__(self, master_socket: str | None = None, query_socket: str | None = None,
                 address: str | None = None, timeout: float = constants.LUXI_DEF_RWTO):
        from ganeti import pathutils
        self._master = address or master_socket or pathutils.MASTER_SOCKET
        self._query = address or query_socket or pathutils.QUERY_SOCKET
        self._timeout = timeout
        self._transports: dict[str, Transport] = {}

    def _transport(self, path: str) -> Transport:
        if path not in self._transports:
            self._transports[path] = Transport(path, timeout=self._timeout)
        return self._transports[path]

    def call_method(self, method: str, *args):
        path = socket_for_method(method, self._master, self._query)
        request = encode_request(method, list(args))
        for attempt in (1, 2):
            transport = self._transport(path)
            try:
                data = transport.call(request)
                break
            except errors.ConnectionClosedError:
                transport.close()
                self._transports.pop(path, None)
                if attempt == 2:
                    raise
        return parse_response(data)

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    # Convenience wrappers (names follow the luxi methods)
    def submit_job(self, ops: list) -> int:
        return self.call_method("SubmitJob", ops)

    def submit_many_jobs(self, jobs: list) -> list:
        return self.call_method("SubmitManyJobs", jobs)

    def wait_for_job_change(self, job_id, fields, prev_info, prev_serial, timeout):
        return self.call_method("WaitForJobChange", job_id, fields, prev_info,
                                prev_serial, timeout)

    def cancel_job(self, job_id, kill: bool = False):
        return self.call_method("CancelJob", job_id, kill)

    def archive_job(self, job_id):
        return self.call_method("ArchiveJob", job_id)

    def auto_archive_jobs(self, age, timeout):
        return self.call_method("AutoArchiveJobs", age, timeout)

    def query(self, what: str, fields: list, qfilter=None):
        return self.call_method("Query", what, fields, qfilter)

    def query_fields(self, what: str, fields=None):
        return self.call_method("QueryFields", what, fields)

    def query_jobs(self, job_ids, fields):
        return self.call_method("QueryJobs", job_ids, fields)

    def query_cluster_info(self):
        return self.call_method("QueryClusterInfo")

    def query_config_values(self, fields):
        return self.call_method("QueryConfigValues", fields)

    def query_tags(self, kind, name):
        return self.call_method("QueryTags", kind, name)


class Server:
    """Threaded luxi server on a Unix socket.

    ``handler(method, args, peer)`` returns the result or raises; the error is sent
    encoded.  Malformed messages get an error answer and never stop the server.
    """

    def __init__(self, path: str, handler, name: str = "luxi", mode: int = 0o660,
                 gid: int = -1, uid: int = -1):
        self.path = path
        self._handler = handler
        self._name = name
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(128)
        # set here, not in serve_forever, so that stop() right after start() is safe
        self._sock.settimeout(0.5)
        # S6: permissions set after listen() and before the first request is served.
        os.chmod(path, mode)
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)

    # A client may stay connected (and idle) between requests for this long; a request
    # must arrive completely within PARTIAL_TIMEOUT once it has started.
    IDLE_TIMEOUT = 30 * 60
    PARTIAL_TIMEOUT = 60
    MAX_CONNECTIONS = 512

    def serve_forever(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError as err:
                if self._stop.is_set():
                    break
                # e.g. EMFILE under a connection flood: keep serving the others
                logging.warning("%s: accept failed: %s", self._name, err)
                time.sleep(0.1)
                continue
            if not self._slots.acquire(blocking=False):
                logging.warning("%s: too many connections, refusing one", self._name)
                conn.close()
                continue
            thread = threading.Thread(target=self._serve_conn, args=(conn,),
                                      name="%s-conn" % self._name, daemon=True)
            thread.start()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name=self._name, daemon=True)
        thread.start()
        return thread

    def _peer(self, conn) -> tuple:
        try:
            import struct
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
            return struct.unpack("3i", creds)  # pid, uid, gid
        except OSError:
            return (0, -1, -1)

    def _serve_conn(self, conn) -> None:
        try:
            self._serve_conn_inner(conn)
        finally:
            self._slots.release()

    def _serve_conn_inner(self, conn) -> None:
        framer = Framer()
        peer = self._peer(conn)
        try:
            while not self._stop.is_set():
                conn.settimeout(self.PARTIAL_TIMEOUT if framer.pending else
                                self.IDLE_TIMEOUT)
                try:
                    data = conn.recv(65536)
                except OSError:  # including the timeouts: drop the connection
                    break
                if not data:
                    break
                try:
                    messages = framer.feed(data)
                except errors.ProtocolError as err:
                    conn.sendall(encode_response(False, errors.encode_exception(err)))
                    break
                for msg in messages:
                    conn.sendall(self._answer(msg, peer))
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, msg: bytes, peer) -> bytes:
        try:
            method, args, _version = parse_request(msg)
            result = self._handler(method, args, peer)
            return encode_response(True, result)
        except errors.GenericError as err:
            return encode_response(False, errors.encode_exception(err))
        except Exception as err:  # noqa: BLE001 - a daemon never dies on a request
            logging.exception("Unhandled error while answering a luxi request")
            return encode_response(False, errors.encode_exception(err))

    def stop(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass
