#!/bin/bash
# campub-vm-agent: runs, one at a time, the shell commands that the host's test driver
# (tests/vm/systemd/test.py) sends over the virtio-serial port campub.agent, and answers each
# with its exit status and output. Installed by image.sh as a service of the test VM only.
# Protocol, one line each way: host -> "CMD <base64 of a bash command>"; agent -> "RC <status>
# <base64 of stdout+stderr>". When it starts the agent says "HELLO <boot id>", so the host can
# tell a reboot happened.
set -u
port=/dev/virtio-ports/campub.agent
for _ in $(seq 100); do [ -e "$port" ] && break; sleep 0.1; done
exec 3<> "$port"
printf 'HELLO %s\n' "$(cat /proc/sys/kernel/random/boot_id)" >&3
while IFS= read -r line <&3; do
    case "$line" in
        CMD\ *) ;;
        *) continue ;;
    esac
    cmd=$(printf '%s' "${line#CMD }" | base64 -d 2> /dev/null) || { printf 'RC 255 %s\n' "$(printf 'bad base64' | base64 -w0)" >&3; continue; }
    out=$(bash -c "$cmd" < /dev/null 2>&1)
    rc=$?
    printf 'RC %s %s\n' "$rc" "$(printf '%s' "$out" | base64 -w0)" >&3
done
