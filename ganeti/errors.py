"""The exception hierarchy; errors cross luxi as ``[ClassName, [args...]]``."""

# Error classification codes carried as the second argument of OpPrereqError
ECODE_RESOLVER = "resolver_error"
ECODE_NORES = "insufficient_resources"
ECODE_TEMP_NORES = "temp_insufficient_resources"
ECODE_INVAL = "wrong_input"
ECODE_STATE = "wrong_state"
ECODE_NOENT = "unknown_entity"
ECODE_EXISTS = "already_exists"
ECODE_NOTUNIQUE = "resource_not_unique"
ECODE_FAULT = "internal_error"
ECODE_ENVIRON = "environment_error"
ECODE_ALL = frozenset([ECODE_RESOLVER, ECODE_NORES, ECODE_TEMP_NORES, ECODE_INVAL,
                       ECODE_STATE, ECODE_NOENT, ECODE_EXISTS, ECODE_NOTUNIQUE,
                       ECODE_FAULT, ECODE_ENVIRON])


class GenericError(Exception):
    """Base of every error of the system."""


class LVMError(GenericError):
    pass


class LockError(GenericError):
    pass


class HypervisorError(GenericError):
    pass


class HotplugError(HypervisorError):
    pass


class ProgrammerError(GenericError):
    """A bug: an internal invariant does not hold."""


class BlockDeviceError(GenericError):
    pass


class StorageError(GenericError):
    pass


class ConfigurationError(GenericError):
    """The cluster configuration is broken or incomplete."""


class ConfigVersionMismatch(ConfigurationError):
    pass


class ConfigVerifyError(ConfigurationError):
    pass


class ReservationError(GenericError):
    pass


class RemoteError(GenericError):
    pass


class SignatureError(GenericError):
    pass


class ParameterError(GenericError):
    pass


class ResultValidationError(GenericError):
    pass


class OpPrereqError(GenericError):
    """A precondition of an operation does not hold (args: message, error code)."""


class OpExecError(GenericError):
    """An operation failed while it was executing."""


class OpResultError(GenericError):
    pass


class DeviceCreationError(GenericError):
    pass


class OpCodeUnknown(GenericError):
    pass


class JobLost(GenericError):
    pass


class JobFileCorrupted(GenericError):
    pass


class ResolverError(GenericError):
    pass


class HooksFailure(GenericError):
    pass


class HooksAbort(HooksFailure):
    """A pre-hook failed; args[0] is a list of (node, script, output)."""


class UnitParseError(GenericError):
    pass


class ParseError(GenericError):
    pass


class TypeEnforcementError(GenericError):
    pass


class X509CertError(GenericError):
    pass


class TagError(GenericError):
    pass


class CommandError(GenericError):
    pass


class InotifyError(GenericError):
    pass


class QuitGanetiException(Exception):
    """Signal the node daemon to terminate after answering (args: bool, message)."""


class JobQueueError(GenericError):
    pass


class JobQueueDrainError(JobQueueError):
    pass


class JobQueueFull(JobQueueError):
    pass


class ConfdMagicError(GenericError):
    pass


class ConfdClientError(GenericError):
    pass


class UdpDataSizeError(GenericError):
    pass


class NoCtypesError(GenericError):
    pass


class IPAddressError(GenericError):
    pass


class LuxiError(GenericError):
    """Base of the luxi transport errors."""


class ProtocolError(LuxiError):
    pass


class ConnectionClosedError(ProtocolError):
    pass


class TimeoutError(ProtocolError):  # noqa: A001 - the name is part of the protocol
    pass


class RequestError(ProtocolError):
    pass


class NoMasterError(ProtocolError):
    pass


class PermissionError(LuxiError):  # noqa: A001 - the name is part of the protocol
    pass


class QueryFilterParseError(ParseError):
    pass


class RapiTestResult(GenericError):
    pass


class FileStoragePathError(GenericError):
    pass


class RpcError(GenericError):
    """A node RPC failed (transport or remote error)."""


def get_error_class(name: str):
    """Return the error class for a name, or None when unknown."""
    item = globals().get(name)
    if isinstance(item, type) and issubclass(item, Exception):
        return item
    return None


def encode_exception(err: Exception) -> list:
    """Encode an exception for luxi or job results."""
    if isinstance(err, GenericError):
        return [err.__class__.__name__, [_plain(a) for a in err.args]]
    return ["GenericError", ["%s: %s" % (err.__class__.__name__, err)]]


def _plain(value):
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def maybe_raise(result) -> None:
    """Raise the encoded exception if ``result`` is one."""
    err = decode_exception(result)
    if err is not None:
        raise err


def decode_exception(result):
    """Turn an encoded exception back into an exception object, or None."""
    if not (isinstance(result, (list, tuple)) and len(result) == 2
            and isinstance(result[0], str) and isinstance(result[1], (list, tuple))):
        return None
    cls = get_error_class(result[0])
    if cls is None:
        return None
    return cls(*result[1])


def format_error(err: Exception) -> str:
    """One-line message for an error, without the class name noise."""
    if isinstance(err, OpPrereqError):
        if len(err.args) == 2 and err.args[1] in ECODE_ALL:
            return "%s" % err.args[0]
    if err.args:
        return "; ".join(str(a) for a in err.args)
    return err.__class__.__name__
