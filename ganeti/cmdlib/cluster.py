"""Cluster-wide logical units: post-init, destroy, query, verify, redistribute."""

import os
import time

from ganeti import constants
from ganeti import crypto
from ganeti import errors
from ganeti import locking
from ganeti import pathutils
from ganeti.cmdlib.base import LogicalUnit, NoHooksLU

CERT_WARN_DAYS = 30


class LUClusterPostInit(LogicalUnit):
    HPATH = "cluster-init"
    HTYPE = constants.HTYPE_CLUSTER
    REQ_BGL = True

    def build_hooks_env(self):
        return {"OP_TARGET": self.cfg.get_cluster_name()}

    def build_hooks_nodes(self):
        return [], [self.master_uuid()]

    def exec(self, feedback_fn):
        return True


class LUClusterDestroy(LogicalUnit):
    HPATH = "cluster-destroy"
    HTYPE = constants.HTYPE_CLUSTER
    REQ_BGL = True

    def build_hooks_env(self):
        return {"OP_TARGET": self.cfg.get_cluster_name()}

    def build_hooks_nodes(self):
        return [], [self.master_uuid()]

    def check_prereq(self):
        nodes = self.cfg.get_node_list()
        if len(nodes) != 1 or nodes[0] != self.master_uuid():
            raise errors.OpPrereqError("There are still %d node(s) in this cluster"
                                       % (len(nodes) - 1), errors.ECODE_INVAL)
        instances = self.cfg.get_instance_list()
        if instances:
            raise errors.OpPrereqError("There are still %d instance(s) in this cluster"
                                       % len(instances), errors.ECODE_INVAL)

    def exec(self, feedback_fn):
        master = self.master_uuid()
        hooks = getattr(self, "hooks_master", None)
        if hooks is not None:
            # post hooks while the master still serves them (spec 3.1)
            hooks.run_post_now([master])
        cluster = self.cfg.get_cluster_info()
        result = self.rpc.call_single("node_deactivate_master_ip", master,
                                      [_master_ip_params(cluster), False])
        if result.fail_msg:
            self.log_warning("Could not disable the master IP: %s", result.fail_msg)
        self.proc.context.schedule_cluster_destroy()
        return master


def _cert_not_after(path: str):
    """Expiry of the (first) certificate in a PEM file; a CA file has no key."""
    try:
        with open(path) as fh:
            _keys, certs = crypto.split_pem(fh.read())
        if not certs:
            raise errors.X509CertError(path, "No certificate found")
        return crypto.cert_not_after(certs[0])
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise errors.X509CertError(path, "Unable to read the certificate: %s" % err) \
            from None


def _script_difference(master, node) -> str | None:
    """How a node's [sha256, owner, group, mode] differs from the master's, or None."""
    if master == node:
        return None
    if node is None:
        return "is missing (present on the master)"
    if master is None:
        return "is not present on the master"
    if master[0] is None or node[0] is None:
        return "cannot be compared: master %s, node %s" % (
            master[1] if master[0] is None else "ok", node[1] if node[0] is None else "ok")
    what = []
    if master[0] != node[0]:
        what.append("content (sha256 %s..., master %s...)" % (node[0][:12], master[0][:12]))
    if master[1:3] != node[1:3]:
        what.append("owner (%s:%s, master %s:%s)" % (node[1], node[2], master[1],
                                                     master[2]))
    if master[3] != node[3]:
        what.append("mode (%04o, master %04o)" % (node[3], master[3]))
    return "differs from the master's: %s" % ", ".join(what)


def _master_ip_params(cluster) -> dict:
    return {"ip": cluster.master_ip, "netdev": cluster.master_netdev,
            "netmask": cluster.master_netmask, "ip_family": cluster.primary_ip_family}


class LUClusterQuery(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {}

    def exec(self, feedback_fn):
        from ganeti import query
        return query.cluster_info(self.cfg.data)


class LUClusterRedistConf(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {locking.LEVEL_NODE: locking.ALL_SET}
        self.share_locks[locking.LEVEL_NODE] = True

    def exec(self, feedback_fn):
        self.proc.context.redistribute_config(full=True)
        return True


class LUClusterVerify(LogicalUnit):
    HPATH = "cluster-verify"
    HTYPE = constants.HTYPE_CLUSTER
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {locking.LEVEL_NODE: locking.ALL_SET,
                             locking.LEVEL_INSTANCE: locking.ALL_SET}
        self.share_locks = {level: True for level in locking.LEVELS}
        self.bad = False

    def build_hooks_env(self):
        env = {"CLUSTER_TAGS": " ".join(sorted(self.cfg.get_cluster_info().tags or []))}
        for node in self.cfg.get_all_nodes_info().values():
            env["NODE_TAGS_%s" % node.name] = " ".join(sorted(node.tags or []))
        return env

    def build_hooks_nodes(self):
        return [], [u for u, n in self.cfg.get_all_nodes_info().items() if not n.offline]

    # Reporting ------------------------------------------------------------
    def _error(self, code: str, kind: str, item: str, message: str,
               warning: bool = False) -> None:
        ignored = code in (self.op.ignore_errors or [])
        level = "WARNING" if (warning or ignored) else "ERROR"
        if self.op.error_codes:
            text = "%s:%s:%s:%s:%s" % (level, code, kind, item, message)
        else:
            text = "%s: %s %s: %s" % (level, kind, item, message)
        self._feedback("  - %s" % text)
        if level == "ERROR":
            self.bad = True

    def exec(self, feedback_fn):
        self._feedback = feedback_fn
        data = self.cfg.data
        feedback_fn("* Verifying cluster config")
        self._verify_config(data)
        feedback_fn("* Verifying cluster certificate files")
        self._verify_certificates()
        nodes = [n for n in data.nodes.values()]
        online = [n for n in nodes if not n.offline]
        for node in nodes:
            if node.offline:
                feedback_fn("* Skipping offline node %s" % node.name)
        feedback_fn("* Gathering data (%d nodes)" % len(online))
        cluster = data.cluster
        what = {
            "version": None,
            "filelist": self._file_list(),
            "hypervisor": list(cluster.enabled_hypervisors),
            "nodelist": [[n.name, n.primary_ip] for n in online],
            "time": None,
            "master-ssconf": None,
            "os": None,
            "instancelist": list(cluster.enabled_hypervisors),
            "file-modes": None,
            "certificates": None,
            "script-hashes": None,
        }
        if constants.DT_FILE in cluster.enabled_disk_templates and cluster.file_storage_dir:
            from ganeti.rpc.node import virtual_path
            what["file-storage"] = [virtual_path(cluster.file_storage_dir)]
        start = time.time()
        results = self.rpc.call("node_verify", [n.uuid for n in online],
                                [what, cluster.cluster_name, cluster.hvparams])
        end = time.time()
        feedback_fn("* Verifying node status")
        master_sums = None
        node_os = {}
        running_on = {}
        for node in online:
            res = results[node.uuid]
            if res.fail_msg:
                self._error("ENODERPC", "node", node.name,
                            "while contacting node: %s" % res.fail_msg)
                continue
            payload = res.payload or {}
            self._verify_node(node, payload, start, end)
            if node.uuid == cluster.master_node:
                master_sums = payload.get("filelist", {})
            node_os[node.name] = {entry[0]: entry for entry in payload.get("os", [])}
            for inst_name in payload.get("instancelist", []):
                running_on.setdefault(inst_name, []).append(node)
        self._verify_files(online, results, master_sums)
        feedback_fn("* Verifying secret files, certificates and scripts")
        self._verify_integrity(online, results, cluster.master_node)
        feedback_fn("* Verifying OS definitions")
        self._verify_os(data, node_os)
        feedback_fn("* Verifying instances")
        self._verify_instances(data, running_on)
        feedback_fn("* Verifying orphan instances")
        known = {i.name for i in data.instances.values()}
        for inst_name, where in sorted(running_on.items()):
            if inst_name not in known:
                for node in where:
                    self._error("ENODEORPHANINSTANCE", "node", node.name,
                                "instance %s is unknown" % inst_name)
        if not self.bad:
            feedback_fn("* Other checks completed; no errors found")
        return not self.bad

    def hooks_callback(self, phase, hook_results, feedback_fn, lu_result):
        if phase != constants.HOOKS_PHASE_POST or not any(
                res.fail_msg or res.payload for res in hook_results.values()):
            return lu_result
        self._feedback("* Hooks Results")
        for _uuid, res in hook_results.items():
            if res.fail_msg:
                if not res.offline:
                    self._error("ENODEHOOKS", "node", res.node,
                                "Communication failure in hooks execution: %s"
                                % res.fail_msg)
                continue
            for script, status, output in res.payload or []:
                if status == constants.HKR_FAIL:
                    self._error("ENODEHOOKS", "node", res.node,
                                "Script %s failed, output: %s" % (script, output.strip()))
        return not self.bad

    # Checks ---------------------------------------------------------------
    def _verify_config(self, data) -> None:
        cluster = data.cluster
        if cluster.master_node not in data.nodes:
            self._error("ECLUSTERCFG", "cluster", cluster.cluster_name,
                        "master node %s not in the configuration" % cluster.master_node)
        for inst in data.instances.values():
            if inst.primary_node not in data.nodes:
                self._error("ECLUSTERCFG", "instance", inst.name,
                            "primary node %s unknown" % inst.primary_node)
            for disk_uuid in inst.disks:
                if disk_uuid not in data.disks:
                    self._error("ECLUSTERCFG", "instance", inst.name,
                                "disk %s missing from the configuration" % disk_uuid)
        for node in data.nodes.values():
            if node.group not in data.nodegroups:
                self._error("ECLUSTERCFG", "node", node.name,
                            "node group %s unknown" % node.group)
            if node.master_candidate and node.uuid not in cluster.candidate_certs:
                self._error("ECLUSTERCFG", "node", node.name,
                            "master candidate without a certificate digest")
        for uuid in cluster.candidate_certs:
            node = data.nodes.get(uuid)
            if node is None or not node.master_candidate:
                self._error("ECLUSTERCFG", "cluster", cluster.cluster_name,
                            "certificate digest for non-candidate %s" % uuid)
        mc_now = sum(1 for n in data.nodes.values() if n.master_candidate)
        mc_possible = sum(1 for n in data.nodes.values()
                          if n.master_capable and not n.offline and not n.drained)
        mc_should = min(mc_possible, cluster.candidate_pool_size)
        if mc_now < mc_should:
            self._error("ECLUSTERCFG", "cluster", cluster.cluster_name,
                        "insufficient master candidates: %d of %d wanted"
                        % (mc_now, mc_should), warning=True)

    def _verify_certificates(self) -> None:
        optional = (pathutils.RAPI_CERT_FILE, pathutils.SPICE_CERT_FILE,
                    pathutils.SPICE_CACERT_FILE)
        for path in (pathutils.NODED_CERT_FILE, pathutils.NODED_CLIENT_CERT_FILE) + \
                optional:
            if not os.path.exists(path):
                if path not in optional:
                    self._error("ECLUSTERCERT", "cluster", os.path.basename(path),
                                "certificate file %s is missing" % path)
                continue
            try:
                not_after = _cert_not_after(path)
            except errors.GenericError as err:
                self._error("ECLUSTERCERT", "cluster", os.path.basename(path),
                            str(err.args[-1]) if err.args else str(err))
                continue
            days = (not_after.timestamp() - time.time()) / 86400
            if days < 0:
                self._error("ECLUSTERCERT", "cluster", os.path.basename(path),
                            "certificate expired on %s" % not_after)
            elif days < CERT_WARN_DAYS:
                self._error("ECLUSTERCERT", "cluster", os.path.basename(path),
                            "certificate expires in %d days" % days, warning=True)

    def _file_list(self) -> list:
        from ganeti import pathutils as p
        return [p.virtualize(f) for f in (p.CLUSTER_CONF_FILE, p.NODED_CERT_FILE,
                                          p.CONFD_HMAC_KEY, p.RAPI_CERT_FILE,
                                          p.CLUSTER_DOMAIN_SECRET_FILE)]

    def _verify_files(self, online, results, master_sums) -> None:
        if not master_sums:
            return
        candidates_only = {pathutils.virtualize(pathutils.CLUSTER_CONF_FILE)}
        for node in online:
            res = results[node.uuid]
            if res.fail_msg or node.uuid == self.cfg.get_master_node():
                continue
            sums = (res.payload or {}).get("filelist", {})
            for name, master_sum in master_sums.items():
                if master_sum is None:
                    continue
                if name in candidates_only and not node.master_candidate:
                    continue
                node_sum = sums.get(name)
                if node_sum is None:
                    self._error("ENODEFILECHECK", "node", node.name,
                                "file %s is missing" % os.path.basename(name))
                elif node_sum != master_sum:
                    self._error("ENODEFILECHECK", "node", node.name,
                                "file %s differs from the master's"
                                % os.path.basename(name))

    # Integrity (beyond Ganeti: cross-node script comparison) ----------------
    def _verify_integrity(self, online, results, master_uuid) -> None:
        payloads = {n.uuid: results[n.uuid].payload or {} for n in online
                    if not results[n.uuid].fail_msg}
        for node in online:
            payload = payloads.get(node.uuid)
            if payload is None:
                continue
            for path, (mode, owner, group) in sorted(
                    (payload.get("file-modes") or {}).items()):
                if mode & 0o007:
                    self._error("ENODEFILECHECK", "node", node.name,
                                "secret file %s has mode %04o (owner %s:%s): others may "
                                "access it; use mode %04o" % (path, mode, owner, group,
                                                              mode & 0o770))
            if node.uuid != master_uuid:  # the master's are checked locally
                self._verify_node_certs(node, payload.get("certificates") or {})
            scripts = payload.get("script-hashes") or {}
            for key, problem in sorted((scripts.get("problems") or {}).items()):
                code = {"hooks": "ENODEHOOKS", "os": "ENODEOS"}.get(
                    key.split("/")[0].split("-search-path")[0], "ENODEFILECHECK")
                self._error(code, "node", node.name,
                            "%s is unsafe: %s" % (key, problem))
        reference = (payloads.get(master_uuid) or {}).get("script-hashes")
        if not reference:
            return
        ref_files = reference.get("files") or {}
        for node in online:
            if node.uuid == master_uuid or node.uuid not in payloads:
                continue
            files = (payloads[node.uuid].get("script-hashes") or {}).get("files") or {}
            for key in sorted(set(ref_files) | set(files)):
                problem = _script_difference(ref_files.get(key), files.get(key))
                if problem:
                    self._error("ENODEFILECHECK", "node", node.name,
                                "script %s %s" % (key, problem))

    def _verify_node_certs(self, node, certs: dict) -> None:
        for path in (pathutils.NODED_CERT_FILE, pathutils.NODED_CLIENT_CERT_FILE):
            name = os.path.basename(path)
            if not any(os.path.basename(p) == name for p in certs):
                self._error("ECLUSTERCERT", "node", node.name,
                            "certificate file %s is missing" % name)
        for path, value in sorted(certs.items()):
            if isinstance(value, str):
                self._error("ECLUSTERCERT", "node", node.name, "%s: %s" % (path, value))
                continue
            days = (value - time.time()) / 86400
            if days < 0:
                self._error("ECLUSTERCERT", "node", node.name,
                            "certificate %s expired on %s" % (path, time.ctime(value)))
            elif days < CERT_WARN_DAYS:
                self._error("ECLUSTERCERT", "node", node.name,
                            "certificate %s expires in %d days" % (path, days),
                            warning=True)

    def _verify_node(self, node, payload, start, end) -> None:
        version = payload.get("version")
        if not version or version[0] != constants.PROTOCOL_VERSION:
            self._error("ENODEVERSION", "node", node.name,
                        "incompatible protocol versions: master %s, node %s"
                        % (constants.PROTOCOL_VERSION, version and version[0]))
        elif version[1] != constants.RELEASE_VERSION:
            self._error("ENODEVERSION", "node", node.name,
                        "software version mismatch: master %s, node %s"
                        % (constants.RELEASE_VERSION, version[1]), warning=True)
        for hv_name, problem in (payload.get("hypervisor") or {}).items():
            if problem:
                self._error("ENODEHV", "node", node.name,
                            "hypervisor %s verify failure: '%s'" % (hv_name, problem))
        for other, problem in (payload.get("nodelist") or {}).items():
            self._error("ENODENET", "node", node.name,
                        "tcp communication with node '%s': %s" % (other, problem))
        ntime = payload.get("time")
        if isinstance(ntime, (int, float)):
            if ntime < start - constants.NODE_MAX_CLOCK_SKEW or \
                    ntime > end + constants.NODE_MAX_CLOCK_SKEW:
                self._error("ENODETIME", "node", node.name,
                            "node time diverges from the master's by %.1f s"
                            % abs(ntime - start))
        master_name = self.cfg.get_master_node_name()
        ss_master = payload.get("master-ssconf")
        if ss_master is not None and ss_master != master_name:
            self._error("ENODESSH", "node", node.name,
                        "ssconf names %r as master instead of %r" % (ss_master, master_name))
        for path, problem in (payload.get("file-storage") or {}).items():
            self._error("ENODEFILESTORAGEPATHS", "node", node.name,
                        "file storage directory %s: %s" % (path, problem))

    def _verify_os(self, data, node_os) -> None:
        if len(node_os) < 2:
            return
        reference_node = self.cfg.get_master_node_name()
        reference = node_os.get(reference_node) or next(iter(node_os.values()))
        for node_name, oses in node_os.items():
            if node_name == reference_node:
                continue
            for name, entry in reference.items():
                if not entry[2]:
                    continue
                other = oses.get(name)
                if other is None:
                    self._error("ENODEOS", "node", node_name,
                                "OS '%s' not found (present on the master)" % name,
                                warning=True)
                elif other[2] and (other[4] != entry[4] or other[6] != entry[6]):
                    self._error("ENODEOS", "node", node_name,
                                "OS '%s' differs from the master's (variants or API)"
                                % name, warning=True)

    def _verify_instances(self, data, running_on) -> None:
        for inst in data.instances.values():
            pnode = data.nodes.get(inst.primary_node)
            if pnode is None or pnode.offline:
                continue
            where = running_on.get(inst.name, [])
            if inst.admin_state == constants.ADMINST_UP and pnode not in where:
                self._error("EINSTANCEDOWN", "instance", inst.name,
                            "instance not running on its primary node %s" % pnode.name)
            for node in where:
                if node.uuid != inst.primary_node:
                    self._error("EINSTANCEWRONGNODE", "instance", inst.name,
                                "instance should not run on node %s" % node.name)
            if inst.admin_state != constants.ADMINST_UP and pnode in where:
                self._error("EINSTANCEUP", "instance", inst.name,
                            "instance is running although it is marked down",
                            warning=True)
