#!/usr/bin/env python3
"""DNS-SD listener run inside the systemd VM guest (python3-minimal: no third-party modules).

Joins the mDNS group on port 5353 (beside campub's own responder: both set SO_REUSEADDR and
SO_REUSEPORT), asks for _campub._tcp.local once a second (multicast, QM) and prints what
answers within SECONDS, one line per service instance:

    instance=NAME port=PORT key=value key=value ...

(the SRV port and the TXT pairs), or nothing. Exit 0 either way: the host decides.

    python3 mdns_listen.py SECONDS [INTERFACE-ADDRESS]
"""
import socket
import struct
import sys
import time

GROUP, PORT = "224.0.0.251", 5353
SERVICE = "_campub._tcp.local"


def read_name(msg, at):
    """A possibly compressed DNS name at `at`: (name, offset after it)."""
    labels, end, jumps = [], None, 0
    while True:
        length = msg[at]
        if length & 0xC0 == 0xC0:
            pointer = ((length & 0x3F) << 8) | msg[at + 1]
            if end is None:
                end = at + 2
            at, jumps = pointer, jumps + 1
            if jumps > 20:
                raise ValueError("name compression loop")
            continue
        if length == 0:
            return ".".join(labels), (end if end is not None else at + 1)
        labels.append(msg[at + 1:at + 1 + length].decode("utf-8", "replace"))
        at += 1 + length


def query():
    qname = b"".join(bytes([len(p)]) + p.encode() for p in SERVICE.split(".")) + b"\x00"
    return struct.pack(">HHHHHH", 0, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 12, 1)


def parse(msg, found):
    _id, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    if not flags & 0x8000:
        return  # a query (ours, or someone's), not an answer
    at = 12
    for _ in range(qd):
        _name, at = read_name(msg, at)
        at += 4
    for _ in range(an + ns + ar):
        name, at = read_name(msg, at)
        rtype, _cls, _ttl, rdlen = struct.unpack(">HHIH", msg[at:at + 10])
        at += 10
        rdata_at, at = at, at + rdlen
        if rtype == 12 and name.lower() == SERVICE:  # PTR: an instance
            instance, _ = read_name(msg, rdata_at)
            found.setdefault(instance, {})
        elif rtype == 33 and name.lower().endswith(SERVICE):  # SRV: its port
            _prio, _weight, port = struct.unpack(">HHH", msg[rdata_at:rdata_at + 6])
            found.setdefault(name, {})["port"] = str(port)
        elif rtype == 16 and name.lower().endswith(SERVICE):  # TXT: its fields
            fields, i = found.setdefault(name, {}), rdata_at
            while i < rdata_at + rdlen:
                n = msg[i]
                entry = msg[i + 1:i + 1 + n].decode("utf-8", "replace")
                key, _, value = entry.partition("=")
                fields[key] = value
                i += 1 + n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    interface = sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("", PORT))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    socket.inet_aton(GROUP) + socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.settimeout(0.2)
    found, end, next_query = {}, time.monotonic() + seconds, 0.0
    while time.monotonic() < end:
        if time.monotonic() >= next_query:
            sock.sendto(query(), (GROUP, PORT))
            next_query = time.monotonic() + 1
        try:
            msg, _ = sock.recvfrom(9000)
        except socket.timeout:
            continue
        try:
            parse(msg, found)
        except (ValueError, IndexError, struct.error):
            continue
    for instance, fields in sorted(found.items()):
        if "port" in fields:
            pairs = " ".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "port")
            print(f"instance={instance} port={fields['port']} {pairs}")


if __name__ == "__main__":
    main()
