"""Ganeti: a cluster manager for virtual machines (Python 3 re-implementation)."""
