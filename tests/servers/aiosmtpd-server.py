#!/usr/bin/python3
# aiosmtpd-server.py: a real SMTP server (aiosmtpd) for the libsmtpclient
# tests, started and stopped by tests/smtpclient-test-utils.c.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run it with Debian's /usr/bin/python3 (python3-aiosmtpd 1.4.x).  It listens
# on 127.0.0.1 only, prints "PORT <n>" on stdout once it accepts
# connections, prints nothing else on stdout, and exits when its stdin
# reaches end-of-file, so that it never outlives the test program.
#
# Options:
#   --port N              listen on port N (default 0: any free port)
#   --hostname NAME       name in the greeting and the EHLO reply
#   --spool DIR           store each accepted message N as DIR/N.eml (the
#                         content after dot-unstuffing, CRLF kept, without
#                         the final ".") and DIR/N.env (a GLib key file,
#                         group [envelope]: helo, mail_from, mail_options,
#                         rcpt_tos, rcpt_options of the first recipient;
#                         lists ';'-separated).  N.env is renamed into place
#                         last, and before the reply to the final "." is sent.
#   --auth USER:PASSWORD  offer AUTH PLAIN and LOGIN and accept these
#                         credentials; with --spool, DIR/auth.counts holds
#                         "ok N\nfail M\n", updated before the reply to each
#                         AUTH command is sent
#   --require-tls-auth    offer AUTH only on an encrypted connection
#   --smtputf8            offer SMTPUTF8
#   --size N              SIZE limit in octets (0: none; default: aiosmtpd's)
#   --tls-cert FILE       certificate (PEM) for STARTTLS / --implicit-tls
#   --tls-key FILE        its private key (PEM)
#   --require-starttls    refuse commands other than EHLO, NOOP, STARTTLS
#                         and QUIT before STARTTLS
#   --implicit-tls        TLS from the first byte (like port 465)
#   --refuse-rcpt ADDR    answer "550 5.1.1 <ADDR>: Recipient address
#                         rejected" to RCPT TO:<ADDR> (may be repeated)
#   --dsn                 offer DSN (RFC 3461) and accept NOTIFY= and ORCPT=
#                         on RCPT, RET= and ENVID= on MAIL; their values are
#                         kept as sent (aiosmtpd upper-cases other options)
#   --advertise KEYWORD   add KEYWORD to the EHLO reply (may be repeated),
#                         e.g. PIPELINING (aiosmtpd handles pipelined
#                         commands in order anyway)

import argparse
import asyncio
import logging
import os
import socket
import ssl
import sys
import threading

from aiosmtpd.smtp import SMTP, AuthResult

DSN_MAIL_PARAMS = ('RET', 'ENVID')
DSN_RCPT_PARAMS = ('NOTIFY', 'ORCPT')


def keyfile_escape(text, separator=None):
    """Escape @text as a GLib key file value (or one element of a list)."""
    out = []
    for i, ch in enumerate(text):
        if ch == '\\':
            out.append('\\\\')
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\r':
            out.append('\\r')
        elif ch == '\t':
            out.append('\\t')
        elif ch == ' ' and i == 0:
            out.append('\\s')
        elif separator is not None and ch == separator:
            out.append('\\' + separator)
        else:
            out.append(ch)
    return ''.join(out)


def keyfile_list(items):
    return ';'.join(keyfile_escape(item, ';') for item in items)


def write_atomically(path, data):
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
    os.replace(tmp, path)


def split_dsn_params(arg, keywords):
    """Take the DSN parameters named in @keywords out of a MAIL/RCPT
    argument.  Returns (argument without them, [parameters as sent])."""
    if arg is None:
        return arg, []
    # The address comes first and may be quoted or contain spaces only in
    # its local part; parameters follow the closing '>'.
    end = arg.find('>')
    if end < 0:
        return arg, []
    head, tail = arg[:end + 1], arg[end + 1:]
    kept = []
    taken = []
    for param in tail.split():
        name = param.partition('=')[0].upper()
        if name in keywords:
            taken.append(param)
        else:
            kept.append(param)
    return ' '.join([head] + kept), taken


class Spool:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.auth_ok = 0
        self.auth_fail = 0

    def store(self, session, envelope):
        self.count += 1
        if self.directory is None:
            return self.count
        base = os.path.join(self.directory, str(self.count))
        write_atomically(base + '.eml', envelope.original_content)
        lines = [
            '[envelope]',
            'helo=' + keyfile_escape(session.host_name or ''),
            'mail_from=' + keyfile_escape(envelope.mail_from or ''),
            'mail_options=' + keyfile_list(envelope.mail_options),
            'rcpt_tos=' + keyfile_list(envelope.rcpt_tos),
            'rcpt_options=' + keyfile_list(
                getattr(envelope, 'first_rcpt_options', [])),
        ]
        text = '\n'.join(lines) + '\n'
        write_atomically(base + '.env',
                         text.encode('utf-8', errors='surrogateescape'))
        return self.count

    def count_auth(self, succeeded):
        if succeeded:
            self.auth_ok += 1
        else:
            self.auth_fail += 1
        if self.directory is None:
            return
        text = 'ok %d\nfail %d\n' % (self.auth_ok, self.auth_fail)
        write_atomically(os.path.join(self.directory, 'auth.counts'),
                         text.encode('ascii'))


class Handler:
    def __init__(self, options, spool):
        self.options = options
        self.spool = spool
        self.refused = {addr.lower() for addr in options.refuse_rcpt}

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        # With this (5-argument) hook aiosmtpd leaves host_name to us.
        session.host_name = hostname
        extra = list(self.options.advertise)
        if self.options.dsn:
            extra.append('DSN')
        result = []
        for line in responses:
            keyword = line[4:].split(' ', 1)[0].upper()
            if keyword == 'AUTH' and self.options.auth is None:
                continue
            if line.startswith('250 '):
                result.extend('250-' + word for word in extra)
            result.append(line)
        return result

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        envelope.mail_options.extend(server.pending_dsn)
        return '250 OK'

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.lower() in self.refused:
            return '550 5.1.1 <%s>: Recipient address rejected' % address
        options = list(rcpt_options) + list(server.pending_dsn)
        if not envelope.rcpt_tos:
            envelope.first_rcpt_options = options
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.spool.store(session, envelope)
        return '250 OK'


class Server(SMTP):
    """aiosmtpd's SMTP with AUTH attempts counted and DSN parameters
    passed through."""

    def __init__(self, handler, options, spool, **kwargs):
        super().__init__(handler, **kwargs)
        self.options = options
        self.spool = spool
        self.pending_dsn = []
        self.auth_in_progress = False
        self.auth_replied = False

    async def push(self, status):
        if self.auth_in_progress:
            text = status.decode('utf-8', 'replace') \
                if isinstance(status, bytes) else status
            if not text.startswith('334'):
                if self.auth_replied:
                    # aiosmtpd 1.4 sends "535" after its own "501 Auth
                    # aborted"; one reply per command is what SMTP says.
                    return
                self.auth_replied = True
                self.spool.count_auth(text.startswith('235'))
        await super().push(status)

    async def smtp_AUTH(self, arg):
        self.auth_in_progress = True
        self.auth_replied = False
        try:
            await super().smtp_AUTH(arg)
        finally:
            if not self.auth_replied:
                # The client went away in the middle of the exchange.
                self.spool.count_auth(False)
            self.auth_in_progress = False

    async def smtp_MAIL(self, arg):
        self.pending_dsn = []
        if self.options.dsn:
            arg, self.pending_dsn = split_dsn_params(arg, DSN_MAIL_PARAMS)
        try:
            await super().smtp_MAIL(arg)
        finally:
            self.pending_dsn = []

    async def smtp_RCPT(self, arg):
        self.pending_dsn = []
        if self.options.dsn:
            arg, self.pending_dsn = split_dsn_params(arg, DSN_RCPT_PARAMS)
        try:
            await super().smtp_RCPT(arg)
        finally:
            self.pending_dsn = []


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="aiosmtpd-server.py")
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--hostname', default='localhost')
    parser.add_argument('--spool')
    parser.add_argument('--auth')
    parser.add_argument('--require-tls-auth', action='store_true')
    parser.add_argument('--smtputf8', action='store_true')
    parser.add_argument('--size', type=int)
    parser.add_argument('--tls-cert')
    parser.add_argument('--tls-key')
    parser.add_argument('--require-starttls', action='store_true')
    parser.add_argument('--implicit-tls', action='store_true')
    parser.add_argument('--refuse-rcpt', action='append', default=[])
    parser.add_argument('--dsn', action='store_true')
    parser.add_argument('--advertise', action='append', default=[])
    options = parser.parse_args(argv)
    if options.auth is not None and ':' not in options.auth:
        parser.error('--auth needs USER:PASSWORD')
    if (options.tls_cert is None) != (options.tls_key is None):
        parser.error('--tls-cert and --tls-key go together')
    if options.implicit_tls and options.tls_cert is None:
        parser.error('--implicit-tls needs --tls-cert and --tls-key')
    if options.require_starttls and options.tls_cert is None:
        parser.error('--require-starttls needs --tls-cert and --tls-key')
    return options


def watch_stdin(loop):
    """Stop @loop when stdin reaches end-of-file (the test program closed
    it, or died)."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    loop.call_soon_threadsafe(loop.stop)


def main(argv):
    options = parse_args(argv)
    # aiosmtpd logs every aborted AUTH and its own deprecations as warnings;
    # only real trouble belongs in the test log.
    logging.basicConfig(format='aiosmtpd-server: %(message)s',
                        level=logging.ERROR)
    spool = Spool(options.spool)

    tls_context = None
    if options.tls_cert is not None:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(options.tls_cert, options.tls_key)

    authenticator = None
    if options.auth is not None:
        user, _, password = options.auth.partition(':')
        expected = (user.encode('utf-8'), password.encode('utf-8'))

        def authenticator(server, session, envelope, mechanism, auth_data):
            given = (bytes(auth_data.login), bytes(auth_data.password))
            return AuthResult(success=given == expected, handled=False)

    kwargs = {
        'hostname': options.hostname,
        'enable_SMTPUTF8': options.smtputf8,
        'timeout': 60,
    }
    if options.size is not None:
        kwargs['data_size_limit'] = options.size or None
    if authenticator is not None:
        kwargs['authenticator'] = authenticator
    if options.implicit_tls:
        # The whole connection is encrypted: no STARTTLS to offer, and
        # aiosmtpd would not know it is safe to offer AUTH.
        kwargs['auth_require_tls'] = False
    else:
        kwargs['auth_require_tls'] = options.require_tls_auth
        if tls_context is not None:
            kwargs['tls_context'] = tls_context
            kwargs['require_starttls'] = options.require_starttls

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(options, spool)

    def factory():
        return Server(handler, options, spool, loop=loop, **kwargs)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', options.port))
    server = loop.run_until_complete(loop.create_server(
        factory, sock=sock,
        ssl=tls_context if options.implicit_tls else None,
        ssl_handshake_timeout=10 if options.implicit_tls else None))

    threading.Thread(target=watch_stdin, args=(loop,), daemon=True).start()

    port = sock.getsockname()[1]
    sys.stdout.write('PORT %d\n' % port)
    sys.stdout.flush()

    loop.run_forever()
    server.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Connections may still be open; nothing in them is worth a clean
    # shutdown, and the spool is written atomically.
    os._exit(0)


if __name__ == '__main__':
    main(sys.argv[1:])
