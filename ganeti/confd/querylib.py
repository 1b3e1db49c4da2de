"""Answers to confd requests, computed from a configuration snapshot in memory.

``answer(data, request)`` returns ``(status, answer, serial)``.  Secrets never leave:
DRBD shared secrets and private OS parameters are redacted from every answer.
"""

import copy

from ganeti import config
from ganeti import constants
from ganeti.confd import protocol as P

_OK = P.REPL_STATUS_OK
_ERR = P.REPL_STATUS_ERROR


def _node_role(data, node) -> int:
    if node.uuid == data.cluster.master_node:
        return P.NODE_ROLE_MASTER
    if node.master_candidate:
        return P.NODE_ROLE_CANDIDATE
    if node.offline:
        return P.NODE_ROLE_OFFLINE
    if node.drained:
        return P.NODE_ROLE_DRAINED
    return P.NODE_ROLE_REGULAR


def _node_by_name(data, name):
    for node in data.nodes.values():
        if node.name == name:
            return node
    return None


def _instance_by_name(data, name):
    for inst in data.instances.values():
        if inst.name == name:
            return inst
    return None


def _default_link(data) -> str:
    return data.cluster.nicparams.get(constants.VALUE_DEFAULT, {}).get(constants.NIC_LINK,
                                                                       "")


def _nic_link(data, nic) -> str:
    return data.cluster.simple_fill_nic(nic.nicparams).get(constants.NIC_LINK, "")


def _ip_to_primary(data, link: str, ip: str):
    for inst in data.instances.values():
        for nic in inst.nics:
            if nic.ip == ip and _nic_link(data, nic) == link:
                node = data.nodes.get(inst.primary_node)
                if node is not None:
                    return node.primary_ip
    return None


def _redacted_disk(disk) -> dict:
    result = copy.deepcopy(disk.to_dict())

    def scrub(d):
        if d.get("dev_type") == constants.DT_DRBD8 and len(d.get("logical_id") or []) == 6:
            d["logical_id"][5] = constants.REDACTED
        for child in d.get("children") or []:
            scrub(child)
    scrub(result)
    return result


def _json_pointer(document, pointer: str):
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise ValueError("a JSON pointer starts with '/'")
    current = document
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if token not in current:
                raise KeyError(token)
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit():
                raise KeyError(token)
            current = current[int(token)]
        else:
            raise KeyError(token)
    return current


def answer(data, req: dict) -> tuple[int, object, int]:
    """(status, answer, serial) for one parsed request."""
    req_type = req["type"]
    query = req["query"]
    serial = data.cluster.serial_no
    if req_type == P.REQ_PING:
        return _OK, constants.CONFIG_VERSION, 0
    if req_type == P.REQ_NODE_ROLE_BYNAME:
        if not isinstance(query, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        node = _node_by_name(data, query)
        if node is None:
            return _ERR, P.ERROR_UNKNOWN_ENTRY, 0
        return _OK, _node_role(data, node), serial
    if req_type == P.REQ_NODE_PIP_BY_INSTANCE_IP:
        if not isinstance(query, dict):
            return _ERR, P.ERROR_ARGUMENT, 0
        link = query.get(P.REQQ_LINK) or _default_link(data)
        if P.REQQ_IPLIST in query:
            ips = query[P.REQQ_IPLIST]
            if not isinstance(ips, list):
                return _ERR, P.ERROR_ARGUMENT, 0
            triples = []
            for ip in ips:
                pip = _ip_to_primary(data, link, ip)
                triples.append([_OK, pip, serial] if pip else
                               [_ERR, P.ERROR_UNKNOWN_ENTRY, 0])
            return _OK, triples, serial
        ip = query.get(P.REQQ_IP)
        if not isinstance(ip, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        pip = _ip_to_primary(data, link, ip)
        if pip is None:
            return _ERR, P.ERROR_UNKNOWN_ENTRY, 0
        return _OK, pip, serial
    if req_type == P.REQ_CLUSTER_MASTER:
        master = data.nodes.get(data.cluster.master_node)
        if query is None:
            return _OK, master.name if master else None, serial
        if not isinstance(query, dict) or not isinstance(query.get(P.REQQ_FIELDS), list):
            return _ERR, P.ERROR_ARGUMENT, 0
        values = {P.REQFIELD_NAME: master.name if master else None,
                  P.REQFIELD_IP: data.cluster.master_ip,
                  P.REQFIELD_MNODE_PIP: master.primary_ip if master else None}
        result = []
        for field in query[P.REQQ_FIELDS]:
            key = str(field)
            if key not in values:
                return _ERR, P.ERROR_ARGUMENT, 0
            result.append(values[key])
        return _OK, result, serial
    if req_type == P.REQ_NODE_PIP_LIST:
        return _OK, [n.primary_ip for n in _sorted_nodes(data)], serial
    if req_type == P.REQ_MC_PIP_LIST:
        return _OK, [n.primary_ip for n in _sorted_nodes(data) if n.master_candidate], \
            serial
    if req_type == P.REQ_INSTANCES_IPS_LIST:
        if query is not None and not isinstance(query, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        link = query or _default_link(data)
        ips = [nic.ip for inst in data.instances.values() for nic in inst.nics
               if nic.ip and _nic_link(data, nic) == link]
        return _OK, ips, serial
    if req_type == P.REQ_NODE_DRBD:
        if not isinstance(query, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        node = _node_by_name(data, query)
        if node is None:
            return _ERR, P.ERROR_UNKNOWN_ENTRY, 0
        return _OK, _drbd_minors(data, node), node.serial_no
    if req_type == P.REQ_NODE_INSTANCES:
        if not isinstance(query, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        node = _node_by_name(data, query)
        if node is None:
            return _ERR, P.ERROR_UNKNOWN_ENTRY, 0
        primary, secondary = [], []
        for inst in data.instances.values():
            redacted = _redacted_instance(inst)
            if inst.primary_node == node.uuid:
                primary.append(redacted)
            elif node.uuid in config.instance_secondary_nodes(data, inst):
                secondary.append(redacted)
        return _OK, [primary, secondary], serial
    if req_type == P.REQ_INSTANCE_DISKS:
        if not isinstance(query, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        inst = _instance_by_name(data, query)
        if inst is None:
            return _ERR, P.ERROR_UNKNOWN_ENTRY, 0
        disks = [_redacted_disk(data.disks[d]) for d in inst.disks if d in data.disks]
        return _OK, disks, inst.serial_no
    if req_type == P.REQ_CONFIG_QUERY:
        if not isinstance(query, str):
            return _ERR, P.ERROR_ARGUMENT, 0
        try:
            return _OK, _json_pointer(config.redacted_config(data), query), serial
        except (KeyError, ValueError, IndexError):
            return _ERR, P.ERROR_ARGUMENT, 0
    if req_type == P.REQ_DATA_COLLECTORS:
        collectors = {}
        for name, item in (data.cluster.data_collectors or {}).items():
            collectors[name] = {"active": bool(item.get("active", True)),
                                "interval": int(item.get("interval", 5000000))}
        return _OK, collectors, serial
    return P.REPL_STATUS_NOTIMPLEMENTED, P.ERROR_ARGUMENT, 0


def _sorted_nodes(data) -> list:
    from ganeti.utils.text import nice_sort_key
    return sorted(data.nodes.values(), key=lambda n: nice_sort_key(n.name))


def _redacted_instance(inst) -> dict:
    result = inst.to_dict()
    if result.get("osparams_private"):
        result["osparams_private"] = {k: constants.REDACTED
                                      for k in result["osparams_private"]}
    return result


def _drbd_minors(data, node) -> list:
    result = []
    for inst in data.instances.values():
        for idx, disk_uuid in enumerate(inst.disks):
            disk = data.disks.get(disk_uuid)
            if disk is None or disk.dev_type != constants.DT_DRBD8:
                continue
            node_a, node_b, _port, minor_a, minor_b = disk.logical_id[:5]
            if node.uuid not in (node_a, node_b):
                continue
            mine_a = node.uuid == node_a
            peer = data.nodes.get(node_b if mine_a else node_a)
            role = "primary" if inst.primary_node == node.uuid else "secondary"
            result.append([node.name, minor_a if mine_a else minor_b, inst.name,
                           "disk/%d" % idx, role, peer.name if peer else None])
    return result
