"""Miscellaneous logical units: test delay, OS diagnose, generic query, tags."""

import time

from ganeti import constants
from ganeti import errors
from ganeti import locking
from ganeti.cmdlib.base import NoHooksLU, expand_instance, expand_node


class LUTestDelay(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {}
        self.node_uuids = [expand_node(self.cfg, n)[0] for n in self.op.on_nodes]
        if self.node_uuids and not self.op.no_locks:
            self.needed_locks[locking.LEVEL_NODE] = self.node_uuids
            self.share_locks[locking.LEVEL_NODE] = True

    def _delay(self) -> None:
        if self.op.on_master and self.op.duration:
            time.sleep(self.op.duration)
        if self.node_uuids:
            results = self.rpc.call("test_delay", self.node_uuids, [self.op.duration])
            for res in results.values():
                res.raise_on_fail("Failure during rpc call to node %s" % res.node)

    def exec(self, feedback_fn):
        for _ in range(max(1, self.op.repeat)):
            self._delay()
        return True


def os_diagnose(cfg, rpc) -> dict:
    """name -> {node name -> [valid, path, diagnose, variants, parameters, api]}."""
    nodes = [u for u, n in cfg.get_all_nodes_info().items()
             if not n.offline and n.vm_capable]
    results = rpc.call("os_diagnose", nodes, [])
    per_os: dict = {}
    for res in results.values():
        if res.fail_msg:
            continue
        for name, path, status, diagnose, variants, params, api, trusted in res.payload:
            per_os.setdefault(name, {})[res.node] = {
                "valid": status, "path": path, "diagnose": diagnose,
                "variants": variants, "parameters": params, "api_versions": api,
                "trusted": trusted}
    return {"nodes": [cfg.get_node_name(u) for u in nodes], "os": per_os}


OS_FIELDS = ("name", "valid", "hidden", "blacklisted", "variants", "api_versions",
             "parameters", "node_status", "os_hvp", "osparams", "trusted")


def os_query_rows(cfg, rpc, fields: list, names: list | None = None) -> list:
    diag = os_diagnose(cfg, rpc)
    cluster = cfg.get_cluster_info()
    rows = []
    for name in sorted(diag["os"]):
        if names and name not in names:
            continue
        per_node = diag["os"][name]
        valid = len(per_node) == len(diag["nodes"]) and all(
            v["valid"] for v in per_node.values())
        first = next(iter(per_node.values()))
        variants = first["variants"] if valid else []
        for info in per_node.values():
            variants = [v for v in variants if v in info["variants"]]
        values = {
            "name": name, "valid": valid,
            "hidden": name in (cluster.hidden_os or []),
            "blacklisted": name in (cluster.blacklisted_os or []),
            "variants": variants,
            "api_versions": sorted(set.intersection(*[set(v["api_versions"]) for v in
                                                      per_node.values()])),
            "parameters": [tuple(p) for p in first["parameters"]],
            "node_status": {n: [[v["path"], v["valid"], v["diagnose"], v["variants"],
                                 v["parameters"], v["api_versions"]]]
                            for n, v in per_node.items()},
            "os_hvp": cluster.os_hvp.get(name, {}),
            "osparams": cluster.osparams.get(name, {}),
            "trusted": all(v["trusted"] for v in per_node.values()),
        }
        row = []
        for field in fields:
            if field not in values:
                raise errors.OpPrereqError("Unknown OS field '%s'" % field,
                                           errors.ECODE_INVAL)
            row.append(values[field])
        rows.append(row)
    return rows


class LUOsDiagnose(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {}

    def exec(self, feedback_fn):
        return os_query_rows(self.cfg, self.rpc, self.op.output_fields, self.op.names)


class LUQuery(NoHooksLU):
    """Queries that need the master (OS, cluster); others are answered by luxid."""

    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {}

    def exec(self, feedback_fn):
        from ganeti import query
        if self.op.what == constants.QR_OS:
            return query.os_query(self.cfg, self.rpc, self.op.fields, self.op.qfilter)
        if self.op.what == constants.QR_CLUSTER:
            return query.cluster_query(self.cfg.data, self.op.fields)
        return query.run_query(self.op.what, self.op.fields, self.op.qfilter,
                               query.QueryContext(self.cfg.data, self.rpc))


class LUQueryFields(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {}

    def exec(self, feedback_fn):
        from ganeti import query
        return query.query_fields(self.op.what, self.op.fields)


def _tag_target(cfg, kind: str, name: str | None):
    if kind == constants.HTYPE_CLUSTER.lower():
        return cfg.get_cluster_info()
    if kind == "node":
        return cfg.get_node_info(expand_node(cfg, name)[0])
    if kind == "instance":
        return cfg.get_instance_info(expand_instance(cfg, name)[0])
    if kind == "nodegroup":
        return cfg.get_node_group(cfg.lookup_node_group(name))
    raise errors.OpPrereqError("Wrong tag type requested (%s)" % kind, errors.ECODE_INVAL)


class LUTagsGet(NoHooksLU):
    REQ_BGL = False

    def expand_names(self):
        self.needed_locks = {}

    def exec(self, feedback_fn):
        return sorted(_tag_target(self.cfg, self.op.kind, self.op.name).get_tags())


class LUTagsSet(NoHooksLU):
    REQ_BGL = True

    def expand_names(self):
        self.needed_locks = {}

    def check_prereq(self):
        from ganeti import objects
        for tag in self.op.tags:
            try:
                objects.validate_tag(tag)
            except errors.TagError as err:
                raise errors.OpPrereqError("Invalid tag %r: %s" % (tag, err),
                                           errors.ECODE_INVAL) from None
        self.target = _tag_target(self.cfg, self.op.kind, self.op.name)

    def exec(self, feedback_fn):
        for tag in self.op.tags:
            self.target.add_tag(tag)
        self.cfg.update(self.target, bump_cluster=True)
        return True


class LUTagsDel(LUTagsSet):
    def check_prereq(self):
        super().check_prereq()
        missing = set(self.op.tags) - self.target.get_tags()
        if missing:
            raise errors.OpPrereqError("Tag(s) %s not found" % ", ".join(sorted(missing)),
                                       errors.ECODE_NOENT)

    def exec(self, feedback_fn):
        for tag in self.op.tags:
            self.target.remove_tag(tag)
        self.cfg.update(self.target, bump_cluster=True)
        return True
