"""The hypervisor contract every backend (fake, kvm, xen) fills in.

Methods take the instance in its dict form plus filled parameters; failures raise
``errors.HypervisorError`` naming the instance and what failed.  A capability the
backend lacks raises a clear HypervisorError, never NotImplementedError.
"""

from abc import ABC, abstractmethod

from ganeti import errors


def read_meminfo_mib(path: str = "/proc/meminfo") -> dict:
    """The node's /proc/meminfo values in MiB (empty when it cannot be read)."""
    result = {}
    try:
        with open(path) as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    result[key] = int(parts[0]) // 1024
    except OSError:
        pass
    return result


class Hypervisor(ABC):
    PARAMETERS: dict = {}  # name -> (check, description)
    CAN_MIGRATE = False

    @abstractmethod
    def start_instance(self, instance: dict, block_devices: list, startup_paused: bool):
        """Start the instance; on failure nothing keeps running."""

    @abstractmethod
    def stop_instance(self, instance: dict, force: bool = False, retry: bool = False,
                      name: str | None = None, timeout: int | None = None) -> None:
        """Stop it (soft, or forced when ``force``); stopping a stopped one is fine."""

    @abstractmethod
    def reboot_instance(self, instance: dict) -> None:
        """Reboot the instance from inside (soft)."""

    @abstractmethod
    def list_instances(self, hvparams: dict | None = None) -> list[str]:
        """Names of the instances running on this node."""

    @abstractmethod
    def get_instance_info(self, instance_name: str, hvparams: dict | None = None):
        """(name, id, memory MiB, vcpus, state, cpu time) or None when not running."""

    def get_all_instances_info(self, hvparams: dict | None = None) -> list:
        result = []
        for name in self.list_instances(hvparams):
            info = self.get_instance_info(name, hvparams)
            if info:
                result.append(info)
        return result

    @abstractmethod
    def get_node_info(self, hvparams: dict | None = None) -> dict:
        """memory_total, memory_free, memory_dom0, cpu_total, cpu_nodes, cpu_sockets."""

    def verify(self, hvparams: dict | None = None) -> str | None:
        """A problem description, or None when the hypervisor is usable."""
        return None

    @classmethod
    def check_parameter_syntax(cls, hvparams: dict) -> None:
        for key, value in hvparams.items():
            if key not in cls.PARAMETERS:
                raise errors.HypervisorError("Unknown hypervisor parameter '%s'" % key)
            check, desc = cls.PARAMETERS[key]
            if not check(value):
                raise errors.HypervisorError("Invalid value %r for hypervisor parameter "
                                             "'%s' (%s)" % (value, key, desc))

    def validate_parameters(self, hvparams: dict) -> None:
        """Node-level checks (e.g. paths exist); syntax is checked separately."""
        self.check_parameter_syntax(hvparams)

    def get_console(self, instance: dict, primary_node: dict, node_group: dict,
                    hvparams: dict, beparams: dict) -> dict:
        raise errors.HypervisorError("%s has no console" % self.__class__.__name__)

    def migrate_instance(self, cluster_name, instance, target, live):
        raise errors.HypervisorError("Migration is not supported by %s"
                                     % self.__class__.__name__)

    def balloon_instance_memory(self, instance: dict, mem: int) -> None:
        raise errors.HypervisorError("Memory ballooning is not supported by %s"
                                     % self.__class__.__name__)
