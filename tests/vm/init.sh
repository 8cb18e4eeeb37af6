#!/bin/busybox sh
# /init of the test VM's initramfs (busybox sh); vm.sh builds the initramfs from this file.
# Loads the modules, mounts the host's / read-only over 9p with a tmpfs overlay, loads vivid,
# runs the payload that vm.sh wrote, in a chroot, under the host's bash (or, in a guest of
# another architecture, a static bash that vm.sh put in /tools, with busybox's tools in
# /.vm-tools), and powers off after writing the payload's exit status to $OUT/.vm/rc (the
# read-write share).
/bin/busybox mkdir -p /proc /sys /dev /host /root /rw /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
    echo "vm init: $*" > /dev/console
    [ -n "$OUT" ] && echo "255" > "/root$OUT/.vm/rc" && sync
    poweroff -f
}
load() { # group [options for vivid.ko]
    for m in $(cat "/mods/$1.order"); do
        if [ "$m" = vivid.ko ]; then insmod "/mods/$m" $VIVID; else insmod "/mods/$m"; fi \
            || echo "vm init: insmod $m failed" > /dev/console
    done
}

OUT=
CONFIG=
for arg in $(cat /proc/cmdline); do
    case "$arg" in campubvm.config=*) CONFIG=${arg#*=} ;; esac
done
load base
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /host \
    || die "cannot mount the host's root over 9p"
[ -r "/host$CONFIG" ] || die "no config at $CONFIG"
. "/host$CONFIG" # VIVID, OUT

# The root the payload sees: the host's / with a tmpfs on top (writes stay in the VM).
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /root \
    || die "overlay mount failed"
mount -t proc proc /root/proc
mount -t sysfs sysfs /root/sys
mount -t devtmpfs devtmpfs /root/dev
mkdir -p /root/dev/pts /root/dev/shm "/root$OUT"
mount -t devpts -o newinstance,ptmxmode=0666 devpts /root/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /root/dev/shm
mount -t 9p -o trans=virtio,version=9p2000.L,cache=mmap,msize=512000 out "/root$OUT" \
    || die "cannot mount the read-write share $OUT"

ip link set lo up
if [ -e /sys/class/net/eth0 ]; then # qemu user-net: the guest is 10.0.2.15
    ip addr add 10.0.2.15/24 dev eth0
    ip link set eth0 up
    ip route add default via 10.0.2.2
fi
hostname campub-vm

load vivid
[ -e /dev/video0 ] || die "vivid loaded but there is no /dev/video0"

guest_bash=/bin/bash
if [ -x /tools/bash ]; then # the host's programs cannot run here
    mkdir -p /root/.vm-tools
    cp /tools/bash /bin/busybox /root/.vm-tools/
    for applet in $(busybox --list); do
        [ -e "/root/.vm-tools/$applet" ] || ln -s busybox "/root/.vm-tools/$applet"
    done
    guest_bash=/.vm-tools/bash
fi
chroot /root "$guest_bash" "$OUT/.vm/payload" < /dev/null > "/root$OUT/.vm/stdout" 2> "/root$OUT/.vm/stderr"
echo $? > "/root$OUT/.vm/rc"
sync
poweroff -f
