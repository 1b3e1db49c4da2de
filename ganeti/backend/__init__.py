"""noded's procedures: the fixed table of what a node can be asked to do (S3).

Each entry maps an RPC name to a function taking the positional arguments of the
request.  Nothing outside this table can be reached over the network.
"""

from ganeti.backend import hooks
from ganeti.backend import join
from ganeti.backend import instance
from ganeti.backend import migration
from ganeti.backend import node
from ganeti.backend import crypto_tokens
from ganeti.backend import sshkeys
from ganeti.backend import restricted


def _os_diagnose():
    from ganeti.backend import osapi
    return osapi.os_diagnose_payload()


def _os_validate(required, name, checks, osparams, force_variant=False):
    from ganeti import errors
    from ganeti.backend import osapi
    node._check(isinstance(name, str) and name, "Invalid OS name %r" % (name,))
    node._check(isinstance(osparams, dict), "OS parameters must be a dict")
    node._check(isinstance(checks, list), "OS checks must be a list")
    try:
        osapi.find_os(name)
    except errors.RpcError:
        if required:
            raise
        return False
    osapi.validate_os_params(name, osparams, tuple(checks))
    return True


PROCEDURES = {
    "node_join_over_ssh": join.node_join_over_ssh,
    "version": node.version,
    "node_info": node.node_info,
    "node_verify": node.node_verify,
    "node_verify_light": node.node_verify,
    "write_ssconf_files": node.write_ssconf_files,
    "upload_file": node.upload_file_list,
    "upload_file_single": node.upload_file,
    "jobqueue_update": node.jobqueue_update,
    "jobqueue_rename": node.jobqueue_rename,
    "jobqueue_purge": node.jobqueue_purge,
    "test_delay": node.test_delay,
    "master_node_name": node.master_node_name,
    "node_start_master_daemons": node.node_start_master_daemons,
    "node_stop_master": node.node_stop_master,
    "node_activate_master_ip": node.node_activate_master_ip,
    "node_deactivate_master_ip": node.node_deactivate_master_ip,
    "node_leave_cluster": node.node_leave_cluster,
    "bridges_exist": node.bridges_exist,
    "get_watcher_pause": node.get_watcher_pause,
    "set_watcher_pause": node.set_watcher_pause,
    "instance_start": instance.instance_start,
    "instance_shutdown": instance.instance_shutdown,
    "instance_reboot": instance.instance_reboot,
    "instance_info": instance.instance_info,
    "all_instances_info": instance.all_instances_info,
    "instance_list": instance.instance_list,
    "instance_os_add": instance.instance_os_add,
    "instance_run_rename": instance.instance_run_rename,
    "blockdev_create": instance.blockdev_create,
    "blockdev_remove": instance.blockdev_remove,
    "blockdev_assemble": instance.blockdev_assemble,
    "blockdev_shutdown": instance.blockdev_shutdown,
    "blockdev_find": instance.blockdev_find,
    "blockdev_getdimensions": instance.blockdev_getdimensions,
    "file_storage_dir_create": instance.file_storage_dir_create,
    "file_storage_dir_remove": instance.file_storage_dir_remove,
    "hypervisor_validate_params": instance.hypervisor_validate_params,
    "migration_info": migration.migration_info,
    "accept_instance": migration.accept_instance,
    "instance_migrate": migration.instance_migrate,
    "instance_get_migration_status": migration.instance_get_migration_status,
    "instance_finalize_migration_dst": migration.instance_finalize_migration_dst,
    "instance_finalize_migration_src": migration.instance_finalize_migration_src,
    "hooks_runner": hooks.hooks_runner,
    "restricted_command": restricted.restricted_command,
    "os_diagnose": _os_diagnose,
    "os_validate": _os_validate,
    "node_crypto_tokens": crypto_tokens.node_crypto_tokens,
    "node_crypto_stage_server_cert": crypto_tokens.node_crypto_stage_server_cert,
    "node_crypto_activate": crypto_tokens.node_crypto_activate,
    "node_crypto_abort": crypto_tokens.node_crypto_abort,
    "node_demote_from_mc": crypto_tokens.node_demote_from_mc,
    "node_ssh_keys_renew": sshkeys.node_ssh_keys_renew,
    "node_ssh_key_remove": sshkeys.node_ssh_key_remove,
    "node_ssh_pub_keys_update": sshkeys.node_ssh_pub_keys_update,
}


def dispatch(name: str, args: list):
    """Call a procedure; a wrong argument count is a clear error, not a crash."""
    import inspect

    from ganeti import errors
    func = PROCEDURES[name]
    try:
        inspect.signature(func).bind(*args)
    except TypeError as err:
        raise errors.RpcError("Wrong arguments for procedure %s: %s" % (name, err)) from None
    return func(*args)
