# Shared helpers of the "simple" OS definition; sourced by every script.
# Scripts run with "set -e" and a clean environment (see the OS API, version 20).

SCRIPT=$(basename "$0")
DEFAULT_FS=ext4
LABEL_MAX=16

die() {
    echo "$SCRIPT: error: $*" >&2
    exit 1
}

usage() {
    echo "usage: $SCRIPT $1" >&2
    echo "  run by Ganeti with its parameters in the environment (OS API 20)" >&2
    exit 1
}

# create, import, export and rename take no arguments at all.
no_args() {
    [ $# -eq 0 ] || usage "(no arguments)"
}

# The ext2/3/4 label holds at most 16 bytes: the default label is cut to fit.
short_label() {
    printf '%.16s' "$1"
}

is_count() {
    case "$1" in
        ''|*[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

# Sets FS and LABEL (read by the sourcing script) from the OS parameters and
# variant, or fails with a message.
# shellcheck disable=SC2034
load_params() {
    FS=${OSP_FILESYSTEM:-$DEFAULT_FS}
    case "$FS" in
        ext2|ext3|ext4) ;;
        *) die "unsupported filesystem '$FS' (valid: ext2, ext3, ext4)" ;;
    esac
    case "${OS_VARIANT:-}" in
        ''|default) ;;
        ext2) FS=ext2 ;;  # the variant wins over the parameter
        *) die "unknown variant '$OS_VARIANT' (valid: default, ext2)" ;;
    esac
    if [ -n "${OSP_LABEL:-}" ]; then
        [ ${#OSP_LABEL} -le $LABEL_MAX ] || \
            die "label '$OSP_LABEL' is longer than $LABEL_MAX characters"
        LABEL=$OSP_LABEL
    else
        LABEL=$(short_label "${INSTANCE_NAME:-}")
    fi
}

# Prints the local path of disk $1, empty when the disk has none.
disk_path() {
    is_count "$1" || die "bad disk index '$1'"
    eval "printf '%s' \"\${DISK_$1_PATH:-}\""
}

disk_count() {
    count=${DISK_COUNT:-0}
    is_count "$count" || die "DISK_COUNT is not a number: '$count'"
    echo "$count"
}
