"""ganeti-luxid: answers queries on the query socket without masterd's locks.

It reads config.data (re-read when it changes) and the job files, asks nodes for live
data, and forwards job submissions to masterd so that clients of the query socket
(RAPI, htools) can do everything through it.
"""

import logging
import os
import threading

from ganeti import config
from ganeti import constants
from ganeti import daemon
from ganeti import errors
from ganeti import luxi
from ganeti import pathutils
from ganeti import privsep
from ganeti import query
from ganeti.jqueue.queue import JobStorage
from ganeti.rpc.node import RpcRunner

CONFIG_VALUES = ("cluster_name", "watcher_pause", "master_node", "drain_flag",
                 "modify_ssh_setup", "ssh_key_type", "ssh_key_bits")


class ConfigReader:
    """config.data, re-read when its file changes."""

    def __init__(self, path: str | None = None):
        self._path = path or pathutils.CLUSTER_CONF_FILE
        self._sig = None
        self._data = None
        self._lock = threading.Lock()

    def get(self):
        try:
            st = os.stat(self._path)
            sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            raise errors.ConfigurationError("Cluster configuration incomplete: %s missing"
                                            % self._path) from None
        with self._lock:
            if sig != self._sig:
                self._data = config.load_config_file(self._path)
                self._sig = sig
            return self._data


class JobReader:
    """Job files from the queue directory, cached by modification time."""

    def __init__(self):
        self._storage = JobStorage()
        self._cache: dict[int, tuple] = {}
        self._lock = threading.Lock()

    def load(self, job_id: int):
        path = self._storage.job_path(job_id)
        archived = False
        try:
            st = os.stat(path)
        except FileNotFoundError:
            path = self._storage.archived_path(job_id)
            archived = True
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._cache.get(job_id)
            if cached and cached[0] == sig:
                return cached[1]
        try:
            job = self._storage.load_job(job_id, archived=archived)
        except errors.JobFileCorrupted as err:
            logging.warning("%s", err)
            return None
        with self._lock:
            self._cache[job_id] = (sig, job)
            if len(self._cache) > 10000:
                self._cache.clear()
        return job

    def all_jobs(self, ids=None) -> list:
        if ids is None:
            ids = self._storage.list_job_ids()
        jobs = []
        for job_id in ids:
            job = self.load(int(job_id))
            if job is not None:
                jobs.append(job)
        return jobs


class QueryHandler:
    def __init__(self):
        self.config = ConfigReader()
        self.jobs = JobReader()
        self.rpc = RpcRunner(self._resolve)
        self._master = None

    def _resolve(self, node):
        data = self.config.get()
        info = data.nodes.get(node)
        if info is None:
            raise errors.OpExecError("Node %s is not in the configuration" % node)
        return info.name, info.primary_ip, bool(info.offline)

    def _master_client(self) -> luxi.Client:
        if self._master is None:
            self._master = luxi.Client(address=pathutils.MASTER_SOCKET)
        return self._master

    def __call__(self, method: str, args: list, peer):
        if method in luxi.JOB_METHODS and method != "QueryJobs":
            if method == "PickupJob":
                raise errors.ProtocolError("PickupJob is internal")
            client = luxi.Client(address=pathutils.MASTER_SOCKET)
            try:
                return client.call_method(method, *args)
            finally:
                client.close()
        handler = getattr(self, "_m_%s" % method, None)
        if handler is None:
            raise errors.ProtocolError("Unknown method '%s'" % method)
        try:
            return handler(*args)
        except TypeError as err:
            raise errors.ProtocolError("Wrong arguments for %s: %s" % (method, err)) \
                from None

    def _ctx(self) -> query.QueryContext:
        return query.QueryContext(self.config.get(), self.rpc, jobs=self.jobs.all_jobs)

    def _m_Query(self, what, fields, qfilter=None):
        if what in constants.QR_VIA_OP:
            raise errors.OpPrereqError("Resource '%s' can only be queried through the "
                                       "OpQuery opcode" % what, errors.ECODE_INVAL)
        if what not in query.FIELDS:
            raise errors.OpPrereqError("Resource type '%s' unknown" % what,
                                       errors.ECODE_INVAL)
        return query.run_query(what, fields, qfilter, self._ctx())

    def _m_QueryFields(self, what, fields=None):
        return query.query_fields(what, fields)

    def _old_query(self, what, names, fields):
        if not isinstance(names, list):
            raise errors.ProtocolError("Names must be a list")
        result = query.run_query(what, fields, query.name_filter(what, names), self._ctx())
        rows = query.old_style_rows(result)
        if names:
            found = {row[0] for row in query.old_style_rows(
                query.run_query(what, ["name"], query.name_filter(what, names),
                                self._ctx()))}
            missing = [n for n in names if n not in found]
            if missing:
                raise errors.OpPrereqError("%s(s) %s not known" % (
                    what.capitalize(), ", ".join(missing)), errors.ECODE_NOENT)
        return rows

    def _m_QueryInstances(self, names, fields, use_locking=False):
        return self._old_query(constants.QR_INSTANCE, names, fields)

    def _m_QueryNodes(self, names, fields, use_locking=False):
        return self._old_query(constants.QR_NODE, names, fields)

    def _m_QueryGroups(self, names, fields, use_locking=False):
        return self._old_query(constants.QR_GROUP, names, fields)

    def _m_QueryJobs(self, job_ids, fields):
        from ganeti.jqueue.job import JOB_FIELDS
        if not isinstance(fields, list) or any(f not in JOB_FIELDS for f in fields):
            raise errors.OpPrereqError("Invalid job fields %r" % (fields,),
                                       errors.ECODE_INVAL)
        if job_ids is None:
            return [job.get_info(fields) for job in self.jobs.all_jobs()]
        result = []
        for job_id in job_ids:
            try:
                job = self.jobs.load(int(job_id))
            except (TypeError, ValueError):
                raise errors.OpPrereqError("Invalid job id %r" % (job_id,),
                                           errors.ECODE_INVAL) from None
            result.append(job.get_info(fields) if job else None)
        return result

    def _m_QueryClusterInfo(self):
        return query.cluster_info(self.config.get())

    def _m_QueryConfigValues(self, fields):
        data = self.config.get()
        result = []
        for field in fields:
            if field == "cluster_name":
                result.append(data.cluster.cluster_name)
            elif field == "master_node":
                result.append(data.nodes[data.cluster.master_node].name)
            elif field == "drain_flag":
                result.append(os.path.exists(pathutils.JOB_QUEUE_DRAIN_FILE))
            elif field == "watcher_pause":
                try:
                    with open(pathutils.WATCHER_PAUSEFILE) as fh:
                        result.append(int(fh.read().strip()))
                except (OSError, ValueError):
                    result.append(None)
            elif field in ("modify_ssh_setup", "ssh_key_type", "ssh_key_bits"):
                result.append(getattr(data.cluster, field))
            else:
                raise errors.OpPrereqError("Unknown config value '%s'" % field,
                                           errors.ECODE_INVAL)
        return result

    def _m_QueryTags(self, kind, name):
        data = self.config.get()
        if kind == "cluster":
            return sorted(data.cluster.tags or [])
        items = {"node": data.nodes.values(), "instance": data.instances.values(),
                 "nodegroup": data.nodegroups.values()}.get(kind)
        if items is None:
            raise errors.OpPrereqError("Invalid tag kind '%s'" % kind, errors.ECODE_INVAL)
        for item in items:
            if item.name == name:
                return sorted(item.tags or [])
        raise errors.OpPrereqError("%s '%s' not known" % (kind, name), errors.ECODE_NOENT)

    def _m_QueryExports(self, nodes, use_locking=False):
        return {n: [] for n in nodes}

    def _m_QueryNetworks(self, names, fields, use_locking=False):
        return []


def prepare(options):
    os.makedirs(pathutils.SOCKET_DIR, mode=0o770, exist_ok=True)
    # S1/S6: bound as root, given to the luxid user and the admin group; root is
    # dropped before the queue and the configuration are opened (files created there
    # belong to the luxid user) and before the first request.
    handlers: list = []
    server = luxi.Server(pathutils.QUERY_SOCKET,
                         lambda method, args, peer: handlers[0](method, args, peer),
                         name="luxid", **privsep.socket_owner(constants.LUXID))
    try:
        privsep.drop_privileges(constants.LUXID)
        handler = QueryHandler()
        handler.config.get()
        handlers.append(handler)
    except BaseException:
        server.stop()
        raise
    server.start()
    return server


def serve(server, stop) -> None:
    stop.wait()
    server.stop()


def main(argv=None) -> int:
    from ganeti import _autoconf
    parser = daemon.build_parser(constants.LUXID, "Ganeti query daemon")
    parser.add_argument("--no-voting", action="store_true", help=argparse_hidden())
    parser.add_argument("--yes-do-it", action="store_true", help=argparse_hidden())
    options = parser.parse_args(argv)
    return daemon.run_daemon(constants.LUXID, options, prepare, serve,
                             user=_autoconf.LUXID_USER)


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS
