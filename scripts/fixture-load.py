#!/usr/bin/env python3
"""Opens a fixed, known set of sockets (run inside a fresh network namespace)
for scripts/record-fixtures. Prints READY, then holds them until killed."""
import socket
import sys
import time

held = []

def tcp(family, addr, port, v6only=None, device=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    if device:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    s.bind((addr, port))
    s.listen(16)
    held.append(s)
    return s

def udp(family, addr, port, v6only=None):
    s = socket.socket(family, socket.SOCK_DGRAM)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port))
    held.append(s)
    return s

ssh = tcp(socket.AF_INET, "0.0.0.0", 22)
tcp(socket.AF_INET6, "::", 22, v6only=1)
web = tcp(socket.AF_INET6, "::", 8080, v6only=0)
tcp(socket.AF_INET, "127.0.0.1", 5432, device="lo")
udp(socket.AF_INET, "0.0.0.0", 53)
udp(socket.AF_INET6, "::1", 5353)
peer = udp(socket.AF_INET, "127.0.0.1", 40000)
peer.connect(("127.0.0.1", 53))

# ESTAB over IPv4, with unread data queued at the server.
client = socket.create_connection(("127.0.0.1", 22), source_address=("127.0.0.1", 41000))
server, _ = ssh.accept()
client.sendall(b"x" * 100)
held += [client, server]
# ESTAB over a dual-stack listener, shown with IPv4-mapped addresses.
mapped = socket.create_connection(("127.0.0.1", 8080), source_address=("127.0.0.1", 41001))
held += [mapped, web.accept()[0]]
# FIN-WAIT-2 / CLOSE-WAIT: the client closes, the server does not.
half = socket.create_connection(("127.0.0.1", 22), source_address=("127.0.0.1", 41002))
half_server, _ = ssh.accept()
half.shutdown(socket.SHUT_WR)
held += [half, half_server]
# TIME-WAIT: the client closes first, then the server.
gone = socket.create_connection(("127.0.0.1", 22), source_address=("127.0.0.1", 41003))
gone_server, _ = ssh.accept()
gone.close()
time.sleep(0.2)
gone_server.close()
time.sleep(0.2)

# UNIX sockets (listed per network namespace too): a listener under an
# abstract name, a connected stream pair and a bound datagram socket.
unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix_listener.bind("\0pw-fixture")
unix_listener.listen(4)
pair = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
datagram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
datagram.bind("\0pw-fixture-dgram")
held += [unix_listener, datagram, *pair]

print("READY", flush=True)
sys.stdin.read()
