# Shared helpers of the "tinylinux" OS definition; sourced by every script.
# A tiny bootable Linux: busybox and an init system on disk 0 (ext2, no partition
# table: use root_path=/dev/vda), booted with the kernel and initramfs of the image
# that build-image makes (hvparams kernel_path and initrd_path).

SCRIPT=$(basename "$0")
DEFAULT_IMAGE_DIR=/opt/ganeti/images/tinylinux

die() {
    echo "$SCRIPT: error: $*" >&2
    exit 1
}

no_args() {
    [ $# -eq 0 ] || die "takes no arguments (run by Ganeti, OS API 20)"
}

is_count() {
    case "$1" in
        ''|*[!0-9]*) return 1 ;;
        *) return 0 ;;
    esac
}

# Sets IMAGE_DIR from the OS parameters, or fails.
load_params() {
    IMAGE_DIR=${OSP_IMAGE_DIR:-$DEFAULT_IMAGE_DIR}
    case "$IMAGE_DIR" in
        /*) ;;
        *) die "image_dir must be an absolute path: '$IMAGE_DIR'" ;;
    esac
    case "${OS_VARIANT:-}" in
        ''|default) ;;
        *) die "unknown variant '$OS_VARIANT' (valid: default)" ;;
    esac
}

check_image() {
    for f in busybox rootfs/etc/inittab rootfs/etc/rc; do
        [ -e "$IMAGE_DIR/$f" ] || \
            die "$IMAGE_DIR/$f is missing (build the image with build-image)"
    done
}

disk_path() {
    is_count "$1" || die "bad disk index '$1'"
    eval "printf '%s' \"\${DISK_$1_PATH:-}\""
}

disk_count() {
    count=${DISK_COUNT:-0}
    is_count "$count" || die "DISK_COUNT is not a number: '$count'"
    echo "$count"
}

# The host name the guest takes: the instance name up to its first dot.
guest_hostname() {
    printf '%s' "${1%%.*}"
}
