#!/usr/bin/env python3
"""A slow TLS client: one header byte every 250 ms, so every read the server makes is quick but the
request never completes. Exits 0 when the server closes the connection within LIMIT seconds.
usage: trickle.py PORT CA_FILE LIMIT"""
import socket
import ssl
import sys
import time

port, ca, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
sock = socket.create_connection(("127.0.0.1", port))
start = time.monotonic()
tls = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
tls.settimeout(0.25)
request = b"POST /v1/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 400
for i in range(len(request)):
    if time.monotonic() - start > limit:
        break
    try:
        tls.send(request[i:i + 1])
        if not tls.recv(100):
            print("closed after %.2f s" % (time.monotonic() - start))
            sys.exit(0)
    except socket.timeout:
        pass
    except (OSError, ssl.SSLError) as e:
        print("closed after %.2f s (%s)" % (time.monotonic() - start, e))
        sys.exit(0)
print("still open after %.2f s" % (time.monotonic() - start))
sys.exit(1)
