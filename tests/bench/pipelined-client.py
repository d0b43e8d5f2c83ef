#!/usr/bin/python3
# tests/bench/pipelined-client.py: the peer compare.sh measures
# smtpclient-bench against over TLS: a pipelined SMTP client in a few
# lines of Python.  Run by hand, not by CI:
#
#   pipelined-client.py HOST PORT MESSAGES FILE [CA_FILE]
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Implicit TLS when CA_FILE is given, plain TCP otherwise.  One
# connection; the message's end of data goes out with the next message's
# MAIL, RCPT and DATA in one write (RFC 2920), so each message costs one
# round trip, as it does for smtpclient-bench.  FILE must already have
# CRLF line ends and no line starting with "."; exits 1 on any refusal.

import socket
import ssl
import sys

host, port, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = open(path, "rb").read()
if not body.endswith(b"\r\n"):
    body += b"\r\n"

sock = socket.create_connection((host, port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if len(sys.argv) > 5:
    context = ssl.create_default_context(cafile=sys.argv[5])
    sock = context.wrap_socket(sock, server_hostname=host)
replies = sock.makefile("rb")


def expect(code):
    """Read one reply (all its lines); exit unless its code is @code"""
    while True:
        line = replies.readline()
        if line[:3] != code:
            sys.exit("expected %s, got %r" % (code.decode(), line))
        if line[3:4] != b"-":
            return


envelope = b"MAIL FROM:<bench@localhost>\r\nRCPT TO:<sink@localhost>\r\nDATA\r\n"
expect(b"220")
sock.sendall(b"EHLO localhost\r\n")
expect(b"250")
sock.sendall(envelope)
for i in range(count):
    expect(b"250")   # MAIL
    expect(b"250")   # RCPT
    expect(b"354")   # DATA
    # The content, its end, and the next message's envelope at once
    sock.sendall(body + b".\r\n" + (envelope if i + 1 < count else b"QUIT\r\n"))
    expect(b"250")   # the end of data
expect(b"221")
