"""Logical units, one per opcode; ``get_lu_class`` maps an opcode to its LU."""

from ganeti import errors
from ganeti import opcodes
from ganeti.cmdlib import cluster, instance, misc, node
from ganeti.cmdlib import restricted as restricted_lu
from ganeti.cmdlib import crypto, node_modify
from ganeti.cmdlib import instance_migration

_LU_MAP = {
    opcodes.OpClusterPostInit: cluster.LUClusterPostInit,
    opcodes.OpClusterDestroy: cluster.LUClusterDestroy,
    opcodes.OpClusterQuery: cluster.LUClusterQuery,
    opcodes.OpClusterVerify: cluster.LUClusterVerify,
    opcodes.OpClusterRedistConf: cluster.LUClusterRedistConf,
    opcodes.OpNodeAdd: node.LUNodeAdd,
    opcodes.OpNodeRemove: node.LUNodeRemove,
    opcodes.OpNodeSetParams: node_modify.LUNodeSetParams,
    opcodes.OpClusterRenewCrypto: crypto.LUClusterRenewCrypto,
    opcodes.OpInstanceCreate: instance.LUInstanceCreate,
    opcodes.OpInstanceRemove: instance.LUInstanceRemove,
    opcodes.OpInstanceStartup: instance.LUInstanceStartup,
    opcodes.OpInstanceShutdown: instance.LUInstanceShutdown,
    opcodes.OpInstanceReboot: instance.LUInstanceReboot,
    opcodes.OpInstanceQueryData: instance.LUInstanceQueryData,
    opcodes.OpInstanceMigrate: instance_migration.LUInstanceMigrate,
    opcodes.OpInstanceFailover: instance_migration.LUInstanceFailover,
    opcodes.OpNodeMigrate: instance_migration.LUNodeMigrate,
    opcodes.OpInstanceConsole: instance_migration.LUInstanceConsole,
    opcodes.OpOsDiagnose: misc.LUOsDiagnose,
    opcodes.OpQuery: misc.LUQuery,
    opcodes.OpQueryFields: misc.LUQueryFields,
    opcodes.OpTestDelay: misc.LUTestDelay,
    opcodes.OpRestrictedCommand: restricted_lu.LURestrictedCommand,
    opcodes.OpTagsGet: misc.LUTagsGet,
    opcodes.OpTagsSet: misc.LUTagsSet,
    opcodes.OpTagsDel: misc.LUTagsDel,
}


def get_lu_class(op):
    try:
        return _LU_MAP[type(op)]
    except KeyError:
        raise errors.OpCodeUnknown("Opcode %s is not supported by this master yet"
                                   % op.OP_ID) from None
