"""The restricted-command logical unit: ask nodes to run one named program (S5.2).

The name is checked here too (defence in depth: a malformed name never reaches a
node), but every node checks it again and alone decides what may run.
"""

from ganeti import errors
from ganeti import locking
from ganeti.backend.restricted import valid_name
from ganeti.cmdlib.base import NoHooksLU, expand_node


class LURestrictedCommand(NoHooksLU):
    REQ_BGL = False

    def check_arguments(self) -> None:
        if not valid_name(self.op.command):
            raise errors.OpPrereqError(
                "Invalid restricted command name %r: only a file name made of letters, "
                "digits, '_' and '-' may be given, without arguments or path"
                % (self.op.command,), errors.ECODE_INVAL)

    def expand_names(self) -> None:
        uuids = []
        for name in self.op.nodes:
            uuid, _ = expand_node(self.cfg, name)
            uuids.append(uuid)
        self.node_uuids = uuids
        if self.op.use_locking:
            self.needed_locks = {locking.LEVEL_NODE: list(dict.fromkeys(uuids))}
            self.share_locks[locking.LEVEL_NODE] = True
        else:
            self.needed_locks = {}

    def check_prereq(self) -> None:
        for uuid, name in zip(self.node_uuids, self.op.nodes, strict=True):
            if self.cfg.get_node_info(uuid) is None:
                raise errors.OpPrereqError("Node '%s' not known" % name,
                                           errors.ECODE_NOENT)

    def exec(self, feedback_fn) -> list:
        """[[True, output] | [False, message]] in the order of ``op.nodes``."""
        results = self.rpc.call("restricted_command", list(dict.fromkeys(self.node_uuids)),
                                [self.op.command])
        answer = []
        for uuid in self.node_uuids:
            res = results[uuid]
            if res.fail_msg:
                answer.append([False, res.fail_msg])
            else:
                answer.append([True, res.payload if isinstance(res.payload, str)
                               else str(res.payload)])
        return answer
