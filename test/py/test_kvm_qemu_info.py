"""qemu version, option and machine-type detection against the captured ``kvm -help``
and ``-machine help`` outputs of several qemu versions, and the cached probe."""

import os

import pytest

from ganeti import errors
from ganeti.hypervisor.kvm import qemu_info

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                    "shared", "data", "captured-outputs")


def read(name: str) -> str:
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        pytest.skip("captured output %s not available" % name)
    with open(path) as fh:
        text = fh.read()
    # kvm_current_help.txt names the file that is the current one
    if "\n" not in text.strip() and text.strip().endswith(".txt"):
        return read(text.strip())
    return text


@pytest.mark.parametrize("name, version", [
    ("kvm_0.9.1_help.txt", (0, 9, 1)),
    ("kvm_0.12.5_help.txt", (0, 12, 5)),
    ("kvm_0.15.90_help.txt", (0, 15, 90)),
    ("kvm_1.0_help.txt", (1, 0, 0)),
    ("kvm_1.1.2_help.txt", (1, 1, 2)),
    ("kvm_5.2.0_help.txt", (5, 2, 0)),
    ("kvm_current_help.txt", (5, 2, 0)),
])
def test_version_of_every_captured_help(name, version):
    parsed, first = qemu_info.parse_version(read(name))
    assert parsed == version
    assert first.startswith("QEMU")


def test_version_line_of_current_qemu_style():
    assert qemu_info.parse_version(
        "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
        "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n")[0] \
        == (7, 2, 22)


def test_unparsable_version_is_an_error():
    with pytest.raises(errors.HypervisorError, match="Cannot find the qemu version"):
        qemu_info.parse_version("something else entirely\n")
    with pytest.raises(errors.HypervisorError):
        qemu_info.parse_version("")


def test_options_of_qemu_5_2():
    options = qemu_info.parse_options(read("kvm_5.2.0_help.txt"))
    for opt in ("-machine", "-accel", "-daemonize", "-runas", "-chroot", "-qmp",
                "-chardev", "-incoming", "-pidfile", "-object", "-uuid", "-nodefaults"):
        assert opt in options, opt
    assert "-run-with" not in options  # qemu 9 only


def test_options_of_old_qemu():
    options = qemu_info.parse_options(read("kvm_0.12.5_help.txt"))
    assert "-daemonize" in options
    assert "-accel" not in options
    assert "-machine" not in options and "-M" in options


def test_machines_of_qemu_6_0():
    machines, default = qemu_info.parse_machines(read("kvm_6.0.0_machine.txt"))
    assert default == "pc-i440fx-impish"
    assert "pc-i440fx-6.0" in machines and "microvm" in machines
    assert "q35" in machines or any(m.startswith("pc-q35") for m in machines)
    info = qemu_info.QemuInfo("/x", (6, 0, 0), "", frozenset(), machines, default)
    assert info.resolve_machine("pc") == "pc-i440fx-6.0"
    assert info.resolve_machine("ubuntu") == "pc-i440fx-impish"
    assert info.resolve_machine("pc-i440fx-5.2") == "pc-i440fx-5.2"


def test_default_machine_given_as_alias_is_resolved():
    text = ("Supported machines are:\n"
            "pc                   Standard PC (i440FX + PIIX, 1996) (alias of "
            "pc-i440fx-7.2) (default)\n"
            "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996)\n"
            "none                 empty machine\n")
    machines, default = qemu_info.parse_machines(text)
    assert default == "pc-i440fx-7.2"
    assert set(machines) == {"pc", "pc-i440fx-7.2", "none"}


def make_fake_qemu(tmp_path, version_line="QEMU emulator version 5.2.0 (Debian)"):
    """A script answering -version, -help and -machine help like qemu 5.2."""
    help_file = tmp_path / "help.txt"
    help_file.write_text(read("kvm_5.2.0_help.txt"))
    machine_file = tmp_path / "machine.txt"
    machine_file.write_text(read("kvm_6.0.0_machine.txt"))
    script = tmp_path / "qemu"
    script.write_text("#!/bin/sh\n"
                      "case \"$1\" in\n"
                      "  -version) echo '%s' ;;\n"
                      "  -help) cat '%s' ;;\n"
                      "  -machine) cat '%s' ;;\n"
                      "  *) exit 1 ;;\n"
                      "esac\n" % (version_line, help_file, machine_file))
    script.chmod(0o755)
    return str(script)


def test_probe_runs_the_binary_and_caches(tmp_path):
    path = make_fake_qemu(tmp_path)
    info = qemu_info.probe(path)
    assert info.version == (5, 2, 0)
    assert info.default_machine == "pc-i440fx-impish"
    assert info.has_option("-daemonize")
    # cached: the same object until the binary changes
    assert qemu_info.probe(path) is info
    os.utime(path, ns=(1, 1))
    assert qemu_info.probe(path) is not info


def test_probe_of_missing_or_broken_binary(tmp_path):
    with pytest.raises(errors.HypervisorError, match="Cannot use qemu binary"):
        qemu_info.probe(str(tmp_path / "nothing"))
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(errors.HypervisorError, match="failed"):
        qemu_info.probe(str(broken))
