"""The block-device contract every storage backend fills in.

A device is identified by its disk object (dict form); methods raise
``errors.BlockDeviceError`` with a message naming the device and what failed, and
leave nothing half-created behind when ``create`` fails.
"""

from abc import ABC, abstractmethod


class BlockDevice(ABC):
    """One disk on one node."""

    def __init__(self, unique_id, children, size: int, params: dict, dyn_params: dict):
        self.unique_id = unique_id
        self.children = children
        self.size = size
        self.params = params or {}
        self.dyn_params = dyn_params or {}
        self.dev_path: str | None = None
        self.attached = False

    @classmethod
    @abstractmethod
    def create(cls, unique_id, children, size: int, spindles, params: dict,
               excl_stor: bool, dyn_params: dict) -> "BlockDevice":
        """Create the device; on failure nothing is left behind."""

    @abstractmethod
    def remove(self) -> None:
        """Remove the device; removing a missing device is not an error."""

    @abstractmethod
    def attach(self) -> bool:
        """Find an existing device; True when found."""

    @abstractmethod
    def assemble(self) -> None:
        """Make the device usable on this node."""

    @abstractmethod
    def shutdown(self) -> None:
        """Make the device unusable (the data stays)."""

    @abstractmethod
    def grow(self, amount: int, dryrun: bool, backingstore: bool, excl_stor: bool) -> None:
        """Grow by ``amount`` MiB."""

    def open(self, force: bool = False, exclusive: bool = True) -> None:  # noqa: B027
        """Make the device ready for I/O (primary role); nothing to do by default."""

    def close(self) -> None:  # noqa: B027
        """Undo ``open``; nothing to do by default."""

    def get_sync_status(self) -> dict:
        """Mirror status; non-mirrored devices are always in sync."""
        return {"dev_path": self.dev_path, "major": None, "minor": None,
                "sync_percent": None, "estimated_time": None, "is_degraded": False,
                "ldisk_status": 1}

    @abstractmethod
    def get_actual_size(self) -> int:
        """Size in bytes as seen on the node."""

    def rename(self, new_id) -> None:
        from ganeti import errors
        raise errors.BlockDeviceError("Renaming is not supported by %s"
                                      % self.__class__.__name__)

    def snapshot(self, snap_name: str, snap_size: int):
        from ganeti import errors
        raise errors.BlockDeviceError("Snapshots are not supported by %s"
                                      % self.__class__.__name__)
