"""The opcode processor: runs one opcode through its logical unit's life cycle.

It takes the locks the LU declares (level by level, BGL first), runs the pre-hooks on
the LU's nodes, executes, runs the post-hooks and always releases the locks.
"""

import logging
import time

from ganeti import constants
from ganeti import errors
from ganeti import locking

LOCK_ATTEMPT_TIMEOUT = 3600.0


class HooksMaster:
    """Builds the hooks environment of an LU and runs its hooks on nodes."""

    def __init__(self, lu, cfg, rpc):
        self.lu = lu
        self.cfg = cfg
        self.rpc = rpc
        self.pre_env = None
        # nodes whose post hooks ran during exec (a removed node, a destroyed cluster)
        self.post_done: set = set()

    def _base_env(self, phase: str) -> dict:
        cluster = self.cfg.get_cluster_info()
        env = {
            "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
            "GANETI_HOOKS_VERSION": constants.HOOKS_VERSION,
            "GANETI_OP_CODE": self.lu.op.OP_ID,
            "GANETI_DATA_DIR": "/var/lib/ganeti",
            "GANETI_HOOKS_PHASE": phase,
            "GANETI_HOOKS_PATH": self.lu.HPATH,
            "GANETI_CLUSTER": cluster.cluster_name,
            "GANETI_MASTER": self.cfg.get_master_node_name(),
        }
        if self.lu.HTYPE:
            env["GANETI_OBJECT_TYPE"] = self.lu.HTYPE
        return env

    def build_env(self, phase: str) -> dict:
        env = self._base_env(phase)
        if phase == constants.HOOKS_PHASE_PRE:
            self.pre_env = {"GANETI_%s" % k: v for k, v in self.lu.build_hooks_env().items()}
            env.update(self.pre_env)
        else:
            env.update(self.pre_env or {})
            env.update({"GANETI_POST_%s" % k: v
                        for k, v in self.lu.build_hooks_env().items()})
        return {k: "" if v is None else str(v) for k, v in env.items()}

    def run_phase(self, phase: str, nodes: list) -> dict:
        if phase == constants.HOOKS_PHASE_POST:
            nodes = [n for n in nodes if n not in self.post_done]
        if not self.lu.HPATH or not nodes:
            if phase == constants.HOOKS_PHASE_PRE:
                self.pre_env = {"GANETI_%s" % k: v
                                for k, v in self.lu.build_hooks_env().items()}
            return {}
        env = self.build_env(phase)
        results = self.rpc.call("hooks_runner", list(dict.fromkeys(nodes)),
                                [self.lu.HPATH, phase, env])
        failures = []
        for res in results.values():
            if res.fail_msg:
                if not res.offline:
                    self.lu.log_warning("Communication failure to node %s while running "
                                        "hooks: %s", res.node, res.fail_msg)
                continue
            for script, status, output in res.payload or []:
                if status == constants.HKR_FAIL:
                    failures.append((res.node, script, output))
                    if phase == constants.HOOKS_PHASE_POST:
                        self.lu.log_warning("Post-hook %s failed on %s: %s", script,
                                            res.node, output.strip())
        if phase == constants.HOOKS_PHASE_PRE and failures:
            raise errors.HooksAbort(failures)
        return results

    def run_post_now(self, nodes: list) -> dict:
        """Post hooks during exec, on nodes that are gone afterwards (spec 3.1)."""
        nodes = [n for n in nodes if n not in self.post_done]
        try:
            results = self.run_phase(constants.HOOKS_PHASE_POST, nodes)
        except Exception as err:  # noqa: BLE001 - post hooks never fail an op
            logging.exception("Post hooks of %s failed", self.lu.op.OP_ID)
            self.lu.log_warning("Post hooks could not run: %s", err)
            results = {}
        self.post_done.update(nodes)
        return results

    def run_config_update(self) -> None:
        """The config-update post hook on the master, with the LU's pre environment."""
        env = self._base_env(constants.HOOKS_PHASE_POST)
        env["GANETI_HOOKS_PATH"] = constants.HOOKS_NAME_CFGUPDATE
        env.update(self.pre_env or {})
        env = {k: "" if v is None else str(v) for k, v in env.items()}
        master = self.cfg.get_master_node()
        res = self.rpc.call("hooks_runner", [master],
                            [constants.HOOKS_NAME_CFGUPDATE, constants.HOOKS_PHASE_POST,
                             env])[master]
        if res.fail_msg:
            logging.warning("config-update hooks could not run: %s", res.fail_msg)
            return
        for script, status, output in res.payload or []:
            if status == constants.HKR_FAIL:
                self.lu.log_warning("Post-hook %s failed on %s: %s", script, res.node,
                                    str(output).strip())


def _config_writes(cfg):
    """How often the configuration was saved so far (None if the store cannot say)."""
    # ConfigWriter counts its saves; the fake stores of unit tests do not
    return getattr(cfg, "_save_gen", None)


class Processor:
    """Executes opcodes for the job queue."""

    def __init__(self, context):
        self.context = context
        self.glm = context.glm
        self._feedback = None
        self._job = None

    def log_info(self, message: str) -> None:
        logging.info(message)
        if self._feedback:
            self._feedback(constants.ELOG_MESSAGE, " - INFO: %s" % message)

    def log_warning(self, message: str) -> None:
        logging.warning(message)
        if self._feedback:
            self._feedback(constants.ELOG_MESSAGE, " - WARNING: %s" % message)

    def log_step(self, message: str) -> None:
        if self._feedback:
            self._feedback(constants.ELOG_MESSAGE, message)

    def exec_opcode(self, op, feedback, notify_running=None, job_id=None,
                    priority: int = constants.OP_PRIO_DEFAULT):
        from ganeti import cmdlib
        op.validate()
        lu_class = cmdlib.get_lu_class(op)
        self._feedback = feedback
        self._job = job_id
        try:
            lu = lu_class(self, op, self.context.cfg, self.context.rpc)
            lu.expand_names()
            if lu.needed_locks is None:
                raise errors.ProgrammerError("%s did not declare its locks" % lu_class)
            try:
                self._acquire_locks(lu, priority)
                lu.check_prereq()
                hooks = HooksMaster(lu, self.context.cfg, self.context.rpc)
                lu.hooks_master = hooks
                pre_nodes, post_nodes = lu.build_hooks_nodes() if lu.HPATH else ([], [])
                hooks.run_phase(constants.HOOKS_PHASE_PRE, pre_nodes)
                if notify_running:
                    notify_running()
                if getattr(op, "dry_run", False):
                    # nothing was created, so locks added for new objects must go
                    self._remove_added_locks(lu)
                    return lu.dry_run_result
                writes = _config_writes(self.context.cfg)
                try:
                    result = self._exec_and_post(lu, hooks, post_nodes, feedback)
                finally:
                    # after any LU that wrote the configuration, failed or not
                    if writes is not None and _config_writes(self.context.cfg) != writes:
                        try:
                            hooks.run_config_update()
                        except Exception:  # noqa: BLE001 - only ever logged
                            logging.exception("config-update hooks of %s failed",
                                              op.OP_ID)
            except BaseException:
                self._remove_added_locks(lu)
                raise
            finally:
                self._release_all()
            return result
        finally:
            self._feedback = None
            self._job = None

    def _exec_and_post(self, lu, hooks, post_nodes, feedback):
        result = lu.exec(lambda msg: feedback(constants.ELOG_MESSAGE, msg))
        if lu.HPATH and hasattr(lu, "build_hooks_nodes_post"):
            # e.g. the node that exec added runs the post hooks too
            post_nodes = lu.build_hooks_nodes_post()
        try:
            post = hooks.run_phase(constants.HOOKS_PHASE_POST, post_nodes)
        except Exception as err:  # noqa: BLE001 - post hooks never fail an op
            logging.exception("Post hooks of %s failed", lu.op.OP_ID)
            self.log_warning("Post hooks could not run: %s" % err)
            post = {}
        return lu.hooks_callback(constants.HOOKS_PHASE_POST, post, feedback, result)

    def _acquire_locks(self, lu, priority: int) -> None:
        bgl_shared = not lu.REQ_BGL
        self._acquire(locking.LEVEL_CLUSTER, [locking.BGL], bgl_shared, priority)
        for level in locking.LEVELS:
            if level == locking.LEVEL_CLUSTER:
                continue
            if level not in lu.needed_locks and level not in lu.add_locks:
                continue
            lu.declare_locks(level)
            names = lu.needed_locks.get(level, [])
            if level in lu.add_locks:
                try:
                    self.glm.add(level, lu.add_locks[level], acquired=True)
                except errors.LockError as err:
                    raise errors.OpPrereqError("%s already exists or is being created by "
                                               "another job (%s)"
                                               % (", ".join(lu.add_locks[level]), err),
                                               errors.ECODE_EXISTS) from None
                lu.added_locks[level] = list(lu.add_locks[level])
            if names is locking.ALL_SET or names:
                self._acquire(level, names, lu.share_locks.get(level, False), priority)

    def _acquire(self, level, names, shared, priority) -> None:
        start = time.monotonic()
        got = self.glm.acquire(level, names, shared=bool(shared),
                               timeout=LOCK_ATTEMPT_TIMEOUT, priority=priority)
        if got is None:
            raise errors.LockError("Could not acquire %s locks %s within %.0f s"
                                   % (locking.LEVEL_NAMES[level], names,
                                      time.monotonic() - start))

    def _remove_added_locks(self, lu) -> None:
        """Locks added for objects that the failed LU did not create go away."""
        for level, names in lu.added_locks.items():
            try:
                self.glm.remove(level, names)
            except errors.GenericError:
                logging.exception("Error while removing locks %s", names)

    def _release_all(self) -> None:
        try:
            self.glm.release_all()
        except errors.GenericError:
            logging.exception("Error while releasing locks")
