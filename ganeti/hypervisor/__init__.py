"""Hypervisor backends, looked up by name."""

from ganeti import constants
from ganeti import errors


def get_hypervisor(name: str):
    if name == constants.HT_FAKE:
        from ganeti.hypervisor.fake import FakeHypervisor
        return FakeHypervisor()
    if name == constants.HT_KVM:
        from ganeti.hypervisor.kvm import KVMHypervisor
        return KVMHypervisor()
    if name == constants.HT_XEN_PVM:
        from ganeti.hypervisor.xen import XenPvmHypervisor
        return XenPvmHypervisor()
    if name == constants.HT_XEN_HVM:
        from ganeti.hypervisor.xen import XenHvmHypervisor
        return XenHvmHypervisor()
    if name in constants.HYPER_TYPES:
        raise errors.HypervisorError("Hypervisor '%s' is not available on this node yet"
                                     % name)
    raise errors.HypervisorError("Unknown hypervisor '%s'" % name)


def get_hypervisor_class(name: str):
    if name == constants.HT_FAKE:
        from ganeti.hypervisor.fake import FakeHypervisor
        return FakeHypervisor
    if name == constants.HT_KVM:
        from ganeti.hypervisor.kvm import KVMHypervisor
        return KVMHypervisor
    if name == constants.HT_XEN_PVM:
        from ganeti.hypervisor.xen import XenPvmHypervisor
        return XenPvmHypervisor
    if name == constants.HT_XEN_HVM:
        from ganeti.hypervisor.xen import XenHvmHypervisor
        return XenHvmHypervisor
    raise errors.HypervisorError("Hypervisor '%s' is not supported" % name)
