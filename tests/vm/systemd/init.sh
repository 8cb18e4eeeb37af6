#!/bin/busybox sh
# /init of the systemd-mode VM's initrd (image.sh builds it): loads the disk's modules, mounts
# the root file system (/dev/vda, ext4) and hands over to systemd as PID 1.
/bin/busybox mkdir -p /proc /sys /dev /newroot /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do
    insmod "/mods/$m" || echo "initrd: insmod $m failed" > /dev/console
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mount -t ext4 -o ro /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda" > /dev/console; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
