#!/usr/bin/python3
# scripted-server.py: an SMTP server that follows a script, for the faults
# no real server produces on demand (odd replies, slow replies, dropped
# connections).  Started and stopped by tests/smtpclient-test-utils.c.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: scripted-server.py SCRIPT --transcript FILE --status FILE
#
# It listens on 127.0.0.1 (any free port), prints "PORT <n>" on stdout,
# prints nothing else on stdout, and exits when its stdin reaches
# end-of-file, so that it never outlives the test program.  It serves one
# connection at a time.  Every byte the client sends, on all connections and
# in order, is appended to the transcript file as soon as it arrives (over
# TLS: the decrypted bytes; the handshake itself is not recorded).  When
# the script has ended, the status file holds "SCRIPT-OK" or
# "SCRIPT-FAIL <reason>" (written atomically: it appears complete or not at
# all).
#
# Script format: one directive a line; blank lines and lines whose first
# non-blank character is '#' are ignored; leading blanks are ignored.  The
# text after a directive and one space is taken as it is (trailing blanks
# included).  The script starts with an implicit ACCEPT.
#
#   S <text>              send <text> and CRLF (<text> may be empty: "S")
#   SRAW <text>           send <text> with C escapes processed (\r \n \t \\
#                         \xHH), nothing appended
#   SBYTES <text>         send <text> and CRLF one byte at a time, 10 ms
#                         apart
#   SLONG <n> <prefix>    send <prefix>, then n 'x' bytes, then CRLF
#   C <glob>              read one line (10 s at most) and match it, without
#                         its line end, against <glob> (fnmatch: * ? [seq],
#                         case-sensitive; write a literal '[' as "[[]");
#                         a mismatch, a time-out or end-of-file fails the
#                         script
#   CDATA                 read message content up to and including the line
#                         "." (10 s at most between two lines)
#   SLEEP <seconds>       pause (a float)
#   CLOSE                 close the connection
#   EXPECT-CLOSE          wait (10 s at most) until the client closes the
#                         connection; a full line from the client instead is
#                         also fine (it is recorded); a time-out fails
#   ACCEPT                wait (30 s at most) for the next connection, still
#                         recording what arrives on the current one, if
#                         any, which is closed once the next one is there
#   STARTTLS <cert> <key> [<client-ca>]
#                         turn the connection into TLS as the server, with
#                         these PEM files (relative paths: from the current
#                         directory, else from this script's directory);
#                         send the "220" reply with S first.  With
#                         <client-ca>, ask the client for a certificate and
#                         verify the one it sends against that CA (sending
#                         none is allowed: see CLIENT-CERT).  A failed
#                         handshake fails the script
#   TLS <cert> <key> [<client-ca>]
#                         the same as STARTTLS; written first in a script
#                         (right after the implicit ACCEPT) it makes the
#                         connection TLS from the first byte (implicit TLS,
#                         like port 465)
#   TLS-REFUSED <cert> <key>
#                         start TLS as the server as STARTTLS does, and
#                         expect the client to abort the handshake (it
#                         refused the certificate): a handshake that
#                         completes, or a time-out, fails the script; the
#                         connection is closed afterwards (nothing the
#                         client sends after its refusal can be read)
#   CLIENT-CERT <glob>    match the common name (CN) of the certificate the
#                         client presented in the TLS handshake, or "-"
#                         when it presented none, against <glob>
#   SCRAM <SHA-1|SHA-256> <user> <password> [forge|omit]
#                         (<user> and <password> without blanks)
#                         play the server side of a SCRAM-SHA-1 or
#                         SCRAM-SHA-256 exchange (RFC 5802, RFC 7677,
#                         RFC 4954) from the client's "AUTH SCRAM-..." line
#                         on: read that line (answering an AUTH without
#                         initial response with "334 "), check the GS2
#                         header ("n,," or, from a client that could bind
#                         to the TLS channel, "y,,": this server offers no
#                         -PLUS mechanism) and the user name, send the
#                         server-first-message (a nonce of its own after
#                         the client's, a random salt, i=4096), check the
#                         channel binding and the nonce (a mismatch fails
#                         the script) and the client proof (a wrong one, a
#                         wrong password, gets "535 5.7.8" and ends the
#                         directive), send the server-final-message
#                         "v=..." as a 334 challenge, expect an empty line,
#                         then send "235 2.7.0".  With "forge" the server
#                         signature sent is wrong: the client must cancel
#                         with "*", which gets "501 5.7.0"; an empty line
#                         instead fails the script.  With "omit" the
#                         server sends "235 2.7.0" right after checking
#                         the proof, without a server-final-message
#
# Sending to a client that has gone away is not a failure (a test may want
# to see the client give up); reading from it then fails C and CDATA.
# When the script has ended, the connection stays open until the client
# closes it or 10 s pass, and what arrives meanwhile is recorded; when it
# failed, the connection is closed at once.  Then the server stops listening
# and waits for end-of-file on stdin.

import argparse
import base64
import fnmatch
import hashlib
import hmac
import os
import re
import select
import socket
import ssl
import sys
import threading
import time

WAIT_SECONDS = 10.0
# The client may be slow to come (valgrind); SMTP_TEST_WAIT_SECONDS.
ACCEPT_SECONDS = 30.0
BYTE_PAUSE = 0.010


class ScriptFailure(Exception):
    pass


def unescape(text):
    """Process the C escapes \\r \\n \\t \\\\ \\xHH of @text."""
    out = bytearray()
    raw = text.encode('utf-8')
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != 0x5c or i + 1 >= len(raw):
            out.append(ch)
            i += 1
            continue
        nxt = chr(raw[i + 1])
        if nxt == 'r':
            out += b'\r'
        elif nxt == 'n':
            out += b'\n'
        elif nxt == 't':
            out += b'\t'
        elif nxt == '\\':
            out += b'\\'
        elif nxt == 'x' and re.match(rb'[0-9A-Fa-f]{2}', raw[i + 2:i + 4]):
            out.append(int(raw[i + 2:i + 4], 16))
            i += 2
        else:
            raise ScriptFailure('bad escape \\%s in SRAW' % nxt)
        i += 2
    return bytes(out)


class Connection:
    """One client connection: a line reader over a socket that records
    every byte it receives."""

    def __init__(self, sock, transcript):
        self.sock = sock
        self.transcript = transcript
        self.buffer = b''
        self.eof = False
        self.client_cn = None
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _receive(self, deadline):
        """Receive once; False on time-out."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionError, ssl.SSLError, OSError):
            data = b''
        if not data:
            self.eof = True
            return True
        self.transcript.write(data)
        self.transcript.flush()
        self.buffer += data
        return True

    def read_line(self, timeout=WAIT_SECONDS):
        """A line with its line end, b'' at end-of-file, None on time-out.
        (A last line without line end before end-of-file is returned as
        it is.)"""
        deadline = time.monotonic() + timeout
        while True:
            end = self.buffer.find(b'\n')
            if end >= 0:
                line = self.buffer[:end + 1]
                self.buffer = self.buffer[end + 1:]
                return line
            if self.eof:
                line, self.buffer = self.buffer, b''
                return line
            if not self._receive(deadline):
                return None

    def wait_close(self, timeout=WAIT_SECONDS):
        """True when the client closed or sent a full line, False on
        time-out."""
        deadline = time.monotonic() + timeout
        while not self.eof and b'\n' not in self.buffer:
            if not self._receive(deadline):
                return False
        return True

    def has_pending(self):
        return (not self.eof and isinstance(self.sock, ssl.SSLSocket)
                and self.sock.pending() > 0)

    def poll(self):
        """Receive what is there (the socket is readable)."""
        self._receive(time.monotonic() + 1.0)

    def drain(self):
        """Receive what has already arrived, without waiting for more."""
        while not self.eof and self._receive(time.monotonic() + 0.05):
            pass

    def linger(self, timeout=WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if not self._receive(deadline):
                return

    def send(self, data, one_by_one=False):
        try:
            self.sock.settimeout(WAIT_SECONDS)
            if one_by_one:
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    time.sleep(BYTE_PAUSE)
            else:
                self.sock.sendall(data)
        except (ConnectionError, ssl.SSLError, OSError):
            # The client went away; reading will tell.
            pass

    def start_tls(self, cert, key, client_ca=None, expect_refusal=False):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cafile=client_ca)
        # Whatever the client sent before the handshake is dropped, as
        # RFC 3207 asks.
        self.buffer = b''
        self.client_cn = None
        self.sock.settimeout(WAIT_SECONDS)
        try:
            tls = context.wrap_socket(self.sock, server_side=True)
        except socket.timeout:
            raise ScriptFailure('TLS handshake: nothing from the client '
                                'within %d s' % WAIT_SECONDS)
        except (ssl.SSLError, OSError) as error:
            if not expect_refusal:
                raise ScriptFailure('TLS handshake failed: %s' % error)
            # wrap_socket has closed the socket.
            self.eof = True
            return
        self.sock = tls
        if expect_refusal:
            raise ScriptFailure('the client completed the TLS handshake, '
                                'expected it to refuse the certificate')
        peer = tls.getpeercert()
        if peer:
            for rdn in peer.get('subject', ()):
                for name, value in rdn:
                    if name == 'commonName':
                        self.client_cn = value

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def read_command(conn, number, what):
    """One line from the client without its line end, as text."""
    line = conn.read_line()
    if line is None:
        raise ScriptFailure('line %d: no %s within %d s'
                            % (number, what, WAIT_SECONDS))
    if not line:
        raise ScriptFailure('line %d: client closed the connection, '
                            'expected %s' % (number, what))
    return line.rstrip(b'\r\n').decode('utf-8', 'surrogateescape')


def b64decode(text, number, what):
    try:
        return base64.b64decode(text.encode('ascii'), validate=True)
    except (ValueError, UnicodeError):
        raise ScriptFailure('line %d: %s is not base64: %r'
                            % (number, what, text))


def scram_attributes(message, number, what):
    """The attributes of a SCRAM message, as an ordered list of (name,
    value)."""
    attributes = []
    for part in message.split(','):
        if len(part) < 2 or part[1] != '=':
            raise ScriptFailure('line %d: malformed %s: %r'
                                % (number, what, message))
        attributes.append((part[0], part[2:]))
    return attributes


def run_scram(conn, number, arg):
    """The server side of SCRAM-SHA-1 / SCRAM-SHA-256 (see SCRAM in the
    header)."""
    parts = arg.split(' ')
    if len(parts) not in (3, 4) or parts[0] not in ('SHA-1', 'SHA-256') \
            or (len(parts) == 4 and parts[3] not in ('forge', 'omit')):
        raise ScriptFailure('line %d: SCRAM needs <SHA-1|SHA-256> <user> '
                            '<password> [forge|omit]' % number)
    digest, user, password = parts[0], parts[1], parts[2]
    mode = parts[3] if len(parts) == 4 else None
    forge = mode == 'forge'
    hash_name = 'sha1' if digest == 'SHA-1' else 'sha256'
    mechanism = 'SCRAM-' + digest

    command = read_command(conn, number, 'AUTH ' + mechanism)
    words = command.split(' ')
    if len(words) not in (2, 3) or words[0].upper() != 'AUTH' \
            or words[1].upper() != mechanism:
        raise ScriptFailure('line %d: got %r, expected AUTH %s'
                            % (number, command, mechanism))
    if len(words) == 3:
        initial = words[2]
    else:
        conn.send(b'334 \r\n')
        initial = read_command(conn, number, 'the client-first-message')

    client_first = b64decode(initial, number,
                             'the client-first-message').decode('utf-8')
    gs2_header = client_first[:3]
    if gs2_header not in ('n,,', 'y,,'):
        raise ScriptFailure('line %d: client-first-message %r: expected '
                            'the GS2 header "n,," or "y,,"'
                            % (number, client_first))
    client_first_bare = client_first[3:]
    attributes = scram_attributes(client_first_bare, number,
                                  'client-first-message')
    if len(attributes) < 2 or attributes[0][0] != 'n' \
            or attributes[1][0] != 'r':
        raise ScriptFailure('line %d: client-first-message %r: expected '
                            'n=...,r=...' % (number, client_first))
    name = attributes[0][1].replace('=2C', ',').replace('=3D', '=')
    if name != user:
        raise ScriptFailure('line %d: SCRAM user %r, expected %r'
                            % (number, name, user))
    client_nonce = attributes[1][1]

    nonce = client_nonce + base64.b64encode(os.urandom(18)).decode('ascii')
    salt = os.urandom(16)
    iterations = 4096
    server_first = 'r=%s,s=%s,i=%d' % (
        nonce, base64.b64encode(salt).decode('ascii'), iterations)
    conn.send(b'334 ' + base64.b64encode(server_first.encode('ascii'))
              + b'\r\n')

    answer = read_command(conn, number, 'the client-final-message')
    if answer == '*':
        conn.send(b'501 5.7.0 Authentication cancelled\r\n')
        raise ScriptFailure('line %d: the client cancelled SCRAM after '
                            'the server-first-message' % number)
    client_final = b64decode(answer, number,
                             'the client-final-message').decode('utf-8')
    attributes = scram_attributes(client_final, number,
                                  'client-final-message')
    binding = base64.b64encode(gs2_header.encode('ascii')).decode('ascii')
    if len(attributes) < 3 or attributes[0] != ('c', binding) \
            or attributes[1] != ('r', nonce) or attributes[-1][0] != 'p':
        conn.send(b'535 5.7.8 Authentication credentials invalid\r\n')
        raise ScriptFailure('line %d: client-final-message %r: expected '
                            'c=%s,r=<nonce>,...,p=<proof>'
                            % (number, client_final, binding))
    if attributes[-1][1] == '':
        conn.send(b'535 5.7.8 Authentication credentials invalid\r\n')
        raise ScriptFailure('line %d: empty client proof' % number)
    without_proof = client_final[:client_final.rindex(',p=')]
    proof = b64decode(attributes[-1][1], number, 'the client proof')

    salted = hashlib.pbkdf2_hmac(hash_name, password.encode('utf-8'), salt,
                                 iterations)
    client_key = hmac.new(salted, b'Client Key', hash_name).digest()
    stored_key = hashlib.new(hash_name, client_key).digest()
    auth_message = ','.join((client_first_bare, server_first,
                             without_proof)).encode('utf-8')
    client_signature = hmac.new(stored_key, auth_message, hash_name).digest()
    if len(proof) != len(client_signature):
        conn.send(b'535 5.7.8 Authentication credentials invalid\r\n')
        raise ScriptFailure('line %d: client proof of %d bytes'
                            % (number, len(proof)))
    recovered = bytes(a ^ b for a, b in zip(proof, client_signature))
    if hashlib.new(hash_name, recovered).digest() != stored_key:
        # A wrong password: refused as a server refuses it; the script
        # goes on (a test may expect this).
        conn.send(b'535 5.7.8 Authentication credentials invalid\r\n')
        return

    if mode == 'omit':
        conn.send(b'235 2.7.0 Authentication successful\r\n')
        return

    server_key = hmac.new(salted, b'Server Key', hash_name).digest()
    signature = hmac.new(server_key, auth_message, hash_name).digest()
    if forge:
        signature = bytes([signature[0] ^ 0x01]) + signature[1:]
    server_final = 'v=' + base64.b64encode(signature).decode('ascii')
    conn.send(b'334 ' + base64.b64encode(server_final.encode('ascii'))
              + b'\r\n')

    answer = read_command(conn, number, 'the answer to the '
                          'server-final-message')
    if forge:
        if answer != '*':
            conn.send(b'235 2.7.0 Authentication successful\r\n')
            raise ScriptFailure('line %d: the client accepted a forged '
                                'server signature (answered %r)'
                                % (number, answer))
        conn.send(b'501 5.7.0 Authentication cancelled\r\n')
        return
    if answer != '':
        raise ScriptFailure('line %d: got %r, expected an empty line after '
                            'the server-final-message' % (number, answer))
    conn.send(b'235 2.7.0 Authentication successful\r\n')


def find_file(name):
    if os.path.isabs(name) or os.path.exists(name):
        return name
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)


def describe(line):
    return repr(line.decode('utf-8', 'backslashreplace'))


class Runner:
    def __init__(self, listener, transcript):
        self.listener = listener
        self.transcript = transcript
        self.connection = None

    def accept(self):
        # Until the next client connects, keep recording what arrives on
        # the current connection (a QUIT, say); then close it.
        old = self.connection
        self.connection = None
        deadline = time.monotonic() + ACCEPT_SECONDS
        while True:
            if old is not None and old.has_pending():
                old.poll()
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if old is not None:
                    old.close()
                raise ScriptFailure('no connection within %d s'
                                    % ACCEPT_SECONDS)
            watched = [self.listener]
            if old is not None and not old.eof:
                watched.append(old.sock)
            readable, _, _ = select.select(watched, [], [], remaining)
            if self.listener in readable:
                break
            if readable:
                old.poll()
        sock, _ = self.listener.accept()
        if old is not None:
            old.drain()
            old.close()
        self.connection = Connection(sock, self.transcript)

    def need_connection(self, directive):
        if self.connection is None:
            raise ScriptFailure('%s without a connection' % directive)
        return self.connection

    def run_line(self, number, directive, arg):
        if directive == 'ACCEPT':
            self.accept()
            return
        conn = self.need_connection(directive)
        if directive == 'S':
            conn.send(arg.encode('utf-8') + b'\r\n')
        elif directive == 'SRAW':
            conn.send(unescape(arg))
        elif directive == 'SBYTES':
            conn.send(arg.encode('utf-8') + b'\r\n', one_by_one=True)
        elif directive == 'SLONG':
            count, _, prefix = arg.partition(' ')
            conn.send(prefix.encode('utf-8') + b'x' * int(count) + b'\r\n')
        elif directive == 'C':
            line = conn.read_line()
            if line is None:
                raise ScriptFailure('line %d: no line within %d s, '
                                    'expected %r' % (number, WAIT_SECONDS,
                                                     arg))
            if not line:
                raise ScriptFailure('line %d: client closed the connection, '
                                    'expected %r' % (number, arg))
            text = line
            if text.endswith(b'\r\n'):
                text = text[:-2]
            elif text.endswith(b'\n'):
                text = text[:-1]
            text = text.decode('utf-8', 'surrogateescape')
            if not fnmatch.fnmatchcase(text, arg):
                raise ScriptFailure('line %d: got %s, expected %r'
                                    % (number, describe(line), arg))
        elif directive == 'CDATA':
            while True:
                line = conn.read_line()
                if line is None:
                    raise ScriptFailure('line %d: message content stalled'
                                        % number)
                if not line or not line.endswith(b'\n'):
                    raise ScriptFailure('line %d: client closed the '
                                        'connection in the message content'
                                        % number)
                if line == b'.\r\n':
                    break
        elif directive == 'SLEEP':
            time.sleep(float(arg))
        elif directive == 'CLOSE':
            conn.close()
            self.connection = None
        elif directive == 'EXPECT-CLOSE':
            if not conn.wait_close():
                raise ScriptFailure('line %d: client did not close the '
                                    'connection within %d s'
                                    % (number, WAIT_SECONDS))
            if conn.eof:
                conn.close()
                self.connection = None
        elif directive in ('STARTTLS', 'TLS'):
            parts = arg.split()
            if len(parts) not in (2, 3):
                raise ScriptFailure('line %d: %s needs <cert> <key> '
                                    '[<client-ca>]' % (number, directive))
            conn.start_tls(find_file(parts[0]), find_file(parts[1]),
                           find_file(parts[2]) if len(parts) == 3 else None)
        elif directive == 'TLS-REFUSED':
            parts = arg.split()
            if len(parts) != 2:
                raise ScriptFailure('line %d: TLS-REFUSED needs <cert> <key>'
                                    % number)
            conn.start_tls(find_file(parts[0]), find_file(parts[1]),
                           expect_refusal=True)
            conn.close()
            self.connection = None
        elif directive == 'CLIENT-CERT':
            name = conn.client_cn if conn.client_cn is not None else '-'
            if not fnmatch.fnmatchcase(name, arg):
                raise ScriptFailure('line %d: client certificate %r, '
                                    'expected %r' % (number, name, arg))
        elif directive == 'SCRAM':
            run_scram(conn, number, arg)
        else:
            raise ScriptFailure('line %d: unknown directive %r'
                                % (number, directive))

    def run(self, lines):
        self.accept()
        for number, directive, arg in lines:
            self.run_line(number, directive, arg)

    def finish(self, linger):
        if self.connection is not None:
            if linger:
                self.connection.linger()
            self.connection.close()
            self.connection = None


def parse_script(text):
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith('#'):
            continue
        directive, _, arg = stripped.partition(' ')
        lines.append((number, directive, arg))
    return lines


def write_status(path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text + '\n')
    os.replace(tmp, path)


def watch_stdin():
    """End the whole process when stdin reaches end-of-file (the test
    program closed it, or died)."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main(argv):
    parser = argparse.ArgumentParser(prog='scripted-server.py')
    parser.add_argument('script')
    parser.add_argument('--transcript', required=True)
    parser.add_argument('--status', required=True)
    parser.add_argument('--port', type=int, default=0)
    options = parser.parse_args(argv)

    with open(options.script, encoding='utf-8') as f:
        lines = parse_script(f.read())

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', options.port))
    listener.listen(16)

    threading.Thread(target=watch_stdin, daemon=True).start()

    transcript = open(options.transcript, 'wb')
    sys.stdout.write('PORT %d\n' % listener.getsockname()[1])
    sys.stdout.flush()

    runner = Runner(listener, transcript)
    try:
        runner.run(lines)
        status = 'SCRIPT-OK'
    except ScriptFailure as error:
        status = 'SCRIPT-FAIL %s' % error
    except Exception as error:
        status = 'SCRIPT-FAIL %s: %s' % (type(error).__name__, error)
    if status != 'SCRIPT-OK':
        sys.stderr.write('scripted-server: %s\n' % status)
        sys.stderr.flush()
    write_status(options.status, status)
    runner.finish(linger=status == 'SCRIPT-OK')
    listener.close()

    # Stay until the test program lets go of stdin.
    threading.Event().wait()


if __name__ == '__main__':
    main(sys.argv[1:])
