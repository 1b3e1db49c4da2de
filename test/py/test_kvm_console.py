"""Console information of KVM instances and the ssh command gnt-instance console runs."""

import shlex

from ganeti import pathutils
from ganeti.client import gnt_instance
from ganeti.hypervisor.kvm import KVMHypervisor, node_serial_socket

NODE = {"name": "node2.example.com", "uuid": "u2", "primary_ip": "192.0.2.12",
        "ssh_port": 2222}


def test_serial_console_is_socat_over_ssh():
    hv = KVMHypervisor(run_dir="/nonexistent")
    inst = {"name": "vm1", "hvparams": {}}
    console = hv.get_console(inst, NODE, {}, {"serial_console": True}, {})
    assert console["kind"] == "ssh"
    assert console["host"] == "node2.example.com"
    assert console["address"] == "192.0.2.12" and console["port"] == 2222
    assert console["user"] == "root"
    assert console["command"] == [
        "socat", "STDIO,echo=0,icanon=0,escape=0x1d",
        "UNIX-CONNECT:%s" % node_serial_socket("node2.example.com", "vm1")]
    assert node_serial_socket("node2.example.com", "vm1").endswith(
        "/run/ganeti/kvm-hypervisor/ctrl/vm1.serial")


def test_vnc_and_message_consoles():
    hv = KVMHypervisor(run_dir="/nonexistent")
    inst = {"name": "vm1", "network_port": 5907}
    console = hv.get_console(inst, NODE, {}, {"serial_console": False,
                                              "vnc_bind_address": "0.0.0.0"}, {})
    assert console == {"instance": "vm1", "kind": "vnc", "host": "node2.example.com",
                       "port": 5907, "display": 7}
    console = hv.get_console({"name": "vm1"}, NODE, {}, {"serial_console": False}, {})
    assert console["kind"] == "message" and "vm1" in console["message"]


def test_ssh_command_of_the_client():
    hv = KVMHypervisor(run_dir="/nonexistent")
    console = hv.get_console({"name": "vm1"}, NODE, {}, {}, {})
    cmd = gnt_instance.console_ssh_command(console, "cluster.example.com")
    assert cmd[0] == "ssh"
    assert "-oHostKeyAlias=cluster.example.com" in cmd
    assert "-oUserKnownHostsFile=%s" % pathutils.SSH_KNOWN_HOSTS_FILE in cmd
    assert "-oBatchMode=yes" in cmd and "-oEscapeChar=none" in cmd
    assert cmd[cmd.index("-p") + 1] == "2222"
    assert cmd[cmd.index("-l") + 1] == "root"
    assert cmd[-2] == "192.0.2.12"
    # the remote command arrives as one shell-quoted string
    assert shlex.split(cmd[-1]) == console["command"]
    assert ("-t" in cmd) != ("-tt" in cmd)
