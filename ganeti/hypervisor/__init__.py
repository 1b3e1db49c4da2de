"""Hypervisor backends, looked up by name."""

from ganeti import constants
from ganeti import errors


def get_hypervisor(name: str):
    if name == constants.HT_FAKE:
        from ganeti.hypervisor.fake import FakeHypervisor
        return FakeHypervisor()
    if name in constants.HYPER_TYPES:
        raise errors.HypervisorError("Hypervisor '%s' is not available on this node yet"
                                     % name)
    raise errors.HypervisorError("Unknown hypervisor '%s'" % name)


def get_hypervisor_class(name: str):
    if name == constants.HT_FAKE:
        from ganeti.hypervisor.fake import FakeHypervisor
        return FakeHypervisor
    raise errors.HypervisorError("Hypervisor '%s' is not supported" % name)
