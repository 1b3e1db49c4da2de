#!/usr/bin/env bash
# quickstart.sh: one-shot machine setup, build, demo cluster and test run.
#
#   ./quickstart.sh deps                       Debian packages + /opt/ganeti/venv
#   ./quickstart.sh build PREFIX [CONFIGURE-ARGS...]
#                                              autogen/configure (when needed), make,
#                                              make install
#   ./quickstart.sh demo                       deps, build /opt/ganeti, 3-node virtual
#                                              cluster in /srv/ganeti-vcluster
#   ./quickstart.sh test                       deps, build build/test-root, run pytest
#
# Must run as root.  Every step is idempotent and skips work that is already done.
# Note: the build configures in the source tree, so ganeti/_autoconf.py afterwards
# holds the settings of the last PREFIX built.

set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$TOP"

readonly VENV=/opt/ganeti/venv
readonly STAMP_DIR=/opt/ganeti/.quickstart
readonly DEMO_PREFIX=/opt/ganeti
readonly TEST_PREFIX=$TOP/build/test-root
readonly VCLUSTER_DIR=/srv/ganeti-vcluster
readonly APT_PACKAGES=(autoconf automake make openssh-server openssh-client
                       ganeti-os-noop python3 python3-venv e2fsprogs socat iproute2
                       procps qemu-system-x86)

say() {
  printf '==> %s\n' "$*"
}

die() {
  printf 'quickstart: error: %s\n' "$*" >&2
  exit 1
}

usage() {
  # The comment block at the top of this file.
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' \
    "${BASH_SOURCE[0]}"
}

require_root() {
  [[ $(id -u) -eq 0 ]] || die "must be run as root"
}

# --- deps -----------------------------------------------------------------------------
apt_lists_fresh() {
  [[ -n "$(find "$STAMP_DIR/apt-updated" -mmin -1440 2>/dev/null)" ]]
}

apt_update() {
  say "apt-get update"
  apt-get update
  mkdir -p "$STAMP_DIR"
  touch "$STAMP_DIR/apt-updated"
}

install_packages() {
  local pkg status missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$pkg")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "Debian packages: all present"
    return 0
  fi
  say "Debian packages to install: ${missing[*]}"
  apt_lists_fresh || apt_update
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y "${missing[@]}"; then
    # The lists may lack a package or name a version the mirror no longer has.
    apt_update
    apt-get install -y "${missing[@]}"
  fi
}

# Can a user other than root run interpreter $1 with its standard library?  The daemons
# of a privilege-separated build (--with-user-prefix) run it as their own users, so an
# interpreter below a private directory (e.g. pyenv's in /root) does not do.
python_usable_by_others() {
  local exe stdlib
  exe=$(readlink -f "$1") || return 1
  # where the interpreter finds its standard library when started by root
  stdlib=$("$1" -c 'import os; print(os.path.dirname(os.path.realpath(os.__file__)))' \
           2>/dev/null) || return 1
  setpriv --reuid=65534 --regid=65534 --clear-groups -- \
    sh -c 'test -x "$1" && test -r "$2/datetime.py"' sh "$exe" "$stdlib" 2>/dev/null
}

# The interpreter a new venv is based on: the system's python3 when other users can
# run it, else the first python3 on PATH.
venv_base_python() {
  local candidate
  for candidate in /usr/bin/python3 "$(command -v python3 || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' \
      2>/dev/null || continue
    python_usable_by_others "$candidate" || continue
    echo "$candidate"
    return 0
  done
  command -v python3 || die "python3 is not on PATH"
}

install_requirements() {
  say "installing Python packages from requirements.txt into $1"
  "$1/bin/python3" -m pip install --disable-pip-version-check -q -r requirements.txt
  sha256sum requirements.txt | cut -d' ' -f1 > "$1/.requirements.sha256"
}

setup_venv() {
  local python want have= new=$VENV.new
  if [[ -x "$VENV/bin/python3" ]] && "$VENV/bin/python3" -c 'import sys' 2>/dev/null; then
    if python_usable_by_others "$VENV/bin/python3"; then
      say "venv $VENV: present"
    else
      # Built on an interpreter other users cannot read: make a complete new one
      # next to it and swap them, so that users of the old one are barely disturbed.
      python=$(venv_base_python)
      if python_usable_by_others "$python"; then
        say "venv $VENV: its interpreter is private to root; rebuilding it on $python"
        rm -rf "$new" "$VENV.old"
        "$python" -m venv "$new"
        install_requirements "$new"
        mv "$VENV" "$VENV.old" && mv "$new" "$VENV"
        # scripts and activate files name the directory they were created in
        grep -rlI --null -F "$new" "$VENV/bin" "$VENV/pyvenv.cfg" 2>/dev/null | \
          xargs -0 -r sed -i -e "s|$new|$VENV|g"
        rm -rf "$VENV.old"
      else
        say "warning: no python3 usable by other users; privilege-separated builds" \
            "(--with-user-prefix) will not run from $VENV"
      fi
    fi
  else
    python=$(venv_base_python)
    say "creating venv $VENV with $python"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$python" -m venv "$VENV"
  fi
  want=$(sha256sum requirements.txt | cut -d' ' -f1)
  [[ -f "$VENV/.requirements.sha256" ]] && have=$(<"$VENV/.requirements.sha256")
  if [[ "$want" == "$have" ]]; then
    say "Python packages: up to date"
    return 0
  fi
  install_requirements "$VENV"
}

# The real Ganeti RAPI client (Debian's python3-ganeti-rapi) for the RAPI tests.  Its
# package is also named "ganeti", so it is never installed: the .deb is unpacked into
# build/ganeti-rapi-client and the tests put that directory on their own sys.path.
readonly RAPI_CLIENT_DIR=$TOP/build/ganeti-rapi-client
readonly RAPI_CLIENT_CACHE=/opt/ganeti/cache/debs

fetch_rapi_client() {
  local deb
  if [[ -f "$RAPI_CLIENT_DIR/usr/lib/python3/dist-packages/ganeti/rapi/client.py" ]]; then
    say "RAPI client library: present in $RAPI_CLIENT_DIR"
    return 0
  fi
  mkdir -p "$RAPI_CLIENT_CACHE"
  deb=$(find "$RAPI_CLIENT_CACHE" -maxdepth 1 -name 'python3-ganeti-rapi_*.deb' | sort | tail -n 1)
  if [[ -z "$deb" ]]; then
    say "downloading python3-ganeti-rapi (unpacked only, never installed)"
    apt_lists_fresh || apt_update
    # _apt cannot write to the cache directory; the download then runs as root.
    (cd "$RAPI_CLIENT_CACHE" && apt-get download python3-ganeti-rapi)
    deb=$(find "$RAPI_CLIENT_CACHE" -maxdepth 1 -name 'python3-ganeti-rapi_*.deb' | sort | tail -n 1)
    [[ -n "$deb" ]] || die "apt-get download python3-ganeti-rapi produced no package"
  fi
  rm -rf "$RAPI_CLIENT_DIR.tmp"
  mkdir -p "$(dirname "$RAPI_CLIENT_DIR")"
  dpkg-deb -x "$deb" "$RAPI_CLIENT_DIR.tmp"
  rm -rf "$RAPI_CLIENT_DIR"
  mv "$RAPI_CLIENT_DIR.tmp" "$RAPI_CLIENT_DIR"
  say "RAPI client library unpacked into $RAPI_CLIENT_DIR"
}

# The boot image of the tinylinux OS definition (KVM tests): a Debian kernel and a
# busybox initramfs, built from the unpacked .debs (see os/tinylinux/build-image).
readonly TINYLINUX_IMAGE_DIR=/opt/ganeti/images/tinylinux

build_tinylinux_image() {
  say "tinylinux boot image in $TINYLINUX_IMAGE_DIR"
  os/tinylinux/build-image --cache "$RAPI_CLIENT_CACHE" "$TINYLINUX_IMAGE_DIR"
}

cmd_deps() {
  require_root
  install_packages
  setup_venv
  fetch_rapi_client
  build_tinylinux_image
}

# --- build ------------------------------------------------------------------------------
cmd_build() {
  [[ $# -ge 1 ]] || die "usage: $0 build PREFIX [CONFIGURE-ARGS...]"
  require_root
  local prefix=$1 sysconfdir localstatedir want stamp=build/.configure-args
  shift
  [[ "$prefix" == /* ]] || die "PREFIX must be an absolute path: $prefix"
  [[ "$prefix" == / ]] || prefix=${prefix%/}
  if [[ "$prefix" == "$DEMO_PREFIX" ]]; then
    sysconfdir=/etc
    localstatedir=/var
  else
    sysconfdir=$prefix/etc
    localstatedir=$prefix/var
  fi

  if [[ ! -x configure || configure -ot configure.ac || configure -ot Makefile.am ]]; then
    say "./autogen.sh"
    ./autogen.sh
  fi
  local args=(--prefix="$prefix" --sysconfdir="$sysconfdir"
              --localstatedir="$localstatedir" "$@")
  # The stamp holds our arguments and what config.status says it was configured with,
  # so that a manual ./configure in between is noticed too.
  want="$(printf '%q ' "${args[@]}")PYTHON=${PYTHON:-}"
  if [[ ! -f config.status || ! -f Makefile || config.status -ot configure ||
        ! -f "$stamp" ||
        "$(<"$stamp")" != "$want"$'\n'"$(./config.status --config 2>/dev/null)" ]]; then
    say "./configure ${args[*]}"
    rm -f "$stamp"
    ./configure "${args[@]}"
    mkdir -p build
    printf '%s\n%s\n' "$want" "$(./config.status --config)" > "$stamp"
  else
    say "configure: already done for $prefix"
  fi
  say "make"
  make -j"$(nproc)"
  say "make install"
  make install
}

# --- demo ---------------------------------------------------------------------------------
run() {
  printf '+ %s\n' "$*"
  "$@"
}

stop_old_demo() {
  # Before reinstalling: the running demo daemons must not see their package replaced.
  if [[ -e "$VCLUSTER_DIR/stop-all" ]]; then
    run "$VCLUSTER_DIR/stop-all" || say "warning: stop-all of the old demo cluster failed"
  fi
  # Whatever stop-all managed, the demo's own sshd must not outlive its directory
  # (it would hold the node addresses): stop it by its pid file, if it is ours.
  local pidfile=$VCLUSTER_DIR/ssh/sshd.pid pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] &&
     tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-f $VCLUSTER_DIR/ssh/sshd_config"; then
    kill "$pid" 2>/dev/null || true
  fi
}

demo_cluster() {
  local setup=$DEMO_PREFIX/lib/ganeti/tools/vcluster-setup
  local C=$VCLUSTER_DIR/node1/cmd
  rm -rf "$VCLUSTER_DIR"
  run "$setup" -c 3 -i 2 -p 127.0.1 -n lo "$VCLUSTER_DIR"
  run "$VCLUSTER_DIR/start-all"
  # vcluster-setup already wrote /etc/hosts for the virtual nodes and the cluster.
  run "$C" gnt-cluster init --no-etc-hosts --master-netdev=lo \
    --enabled-hypervisors=fake --enabled-disk-templates=file,diskless \
    --nic-parameters=link=lo --file-storage-dir=/srv/ganeti/file-storage cluster
  run "$C" gnt-node add node2
  run "$C" gnt-node add node3
  run "$C" gnt-instance add -t file --disk 0:size=1G -o simple+default -n node2 \
    instance1
  run "$C" gnt-instance add -t diskless -o noop -n node3 instance2
  run "$C" gnt-instance list
  run "$C" gnt-node list
  run "$C" gnt-cluster verify
  say "demo cluster is up: $C gnt-cluster info; stop it with $VCLUSTER_DIR/stop-all"
}

cmd_demo() {
  cmd_deps
  stop_old_demo
  cmd_build "$DEMO_PREFIX"
  demo_cluster
}

# --- test ---------------------------------------------------------------------------------
cmd_test() {
  cmd_deps
  cmd_build "$TEST_PREFIX" --enable-restricted-commands  # the tests exercise them
  local dirs=() rc=0
  [[ -d test/py ]] && dirs+=(test/py)
  [[ -d test/integration ]] && dirs+=(test/integration)
  [[ -d test/security ]] && dirs+=(test/security)
  [[ ${#dirs[@]} -gt 0 ]] || die "no test directories"
  say "pytest ${dirs[*]} (GANETI_TEST_PREFIX=$TEST_PREFIX)"
  GANETI_TEST_PREFIX=$TEST_PREFIX "$VENV/bin/python3" -m pytest "${dirs[@]}" -q \
    -p no:cacheprovider || rc=$?
  if [[ $rc -eq 5 ]]; then
    # pytest's "no tests collected" is only acceptable while there are none to run.
    if [[ -n "$(find test/py -name 'test_*.py' -print -quit 2>/dev/null)" ]]; then
      echo "quickstart test: FAILED (pytest collected no tests, but test/py has some)"
      return 1
    fi
    rc=0
  fi
  if [[ $rc -eq 0 ]]; then
    echo "quickstart test: OK"
  else
    echo "quickstart test: FAILED (pytest exit status $rc)"
  fi
  return "$rc"
}

main() {
  [[ $# -ge 1 ]] || { usage >&2; exit 2; }
  local command=$1
  shift
  case $command in
    deps) [[ $# -eq 0 ]] || die "deps takes no arguments"; cmd_deps ;;
    build) cmd_build "$@" ;;
    demo) [[ $# -eq 0 ]] || die "demo takes no arguments"; cmd_demo ;;
    test) [[ $# -eq 0 ]] || die "test takes no arguments"; cmd_test ;;
    -h|--help|help) usage ;;
    *) usage >&2; die "unknown command '$command'" ;;
  esac
}

main "$@"
