"""The remote API (RAPI v2): users file and authentication, the resource registry,
the request dispatcher and the OpenAPI description generated from the registry.

The daemon entry point is ``ganeti.server.rapi``.
"""
