#!/usr/bin/python3
# check-mailserver.py: a standalone check of a mail server launcher
# (tests/servers/mailserver-KIND.py), with the standard library's smtplib
# and ssl only.  Not run by meson; for whoever writes or changes a
# launcher.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: check-mailserver.py LAUNCHER [--option=value ...]
#
# It starts LAUNCHER (with /usr/bin/python3) with --dir=<a new temporary
# directory> and the given options, reads its READY line and, through the
# ports and credentials it names: sends a message in plain text to three
# mailboxes, with STARTTLS and AUTH with each mechanism listed (of those
# smtplib has: PLAIN, LOGIN, CRAM-MD5), with implicit TLS, with a wrong
# password (wants 535), from an SMTPUTF8 address, over the SIZE limit
# (wants 552 or another 5xx) and to an unknown recipient (wants 550);
# then checks each message arrived, byte for byte, in the Maildirs, and
# that the log names each message.  Prints what it does; exits 0 when
# everything passed, 1 when something failed, 77 when the launcher said
# SKIP.  Every wait is bounded.

import json
import os
import select
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

START_TIMEOUT = 60
WAIT_TIMEOUT = 20
failures = []


def log(msg):
    print(msg, flush=True)


def check(ok, what):
    log('%s: %s' % ('ok  ' if ok else 'FAIL', what))
    if not ok:
        failures.append(what)
    return ok


def start(launcher, options, d):
    proc = subprocess.Popen(['/usr/bin/python3', launcher, '--dir=' + d]
                            + options, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    t0 = time.monotonic()
    line = b''
    while not line.endswith(b'\n'):
        left = START_TIMEOUT - (time.monotonic() - t0)
        r, _, _ = select.select([proc.stdout], [], [], max(left, 0))
        if not r:
            proc.kill()
            sys.exit('launcher said nothing within %ds' % START_TIMEOUT)
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            sys.exit('launcher exited without READY (status %s)'
                     % proc.wait(timeout=10))
        line += chunk
    line = line.decode().rstrip('\n')
    if line.startswith('SKIP'):
        log(line)
        proc.wait(timeout=10)
        sys.exit(77)
    if not line.startswith('READY '):
        proc.kill()
        sys.exit('launcher said %r' % line)
    log('started in %.2fs: %s' % (time.monotonic() - t0, line))
    return proc, json.loads(line[6:])


def message(token, sender, rcpts, extra=''):
    return ('From: <%s>\r\nTo: %s\r\nSubject: check %s\r\n'
            'Message-ID: <%s@check.invalid>\r\n%s\r\n'
            'Body of %s.\r\n..leading dot\r\nlast line\r\n'
            % (sender, ', '.join('<%s>' % r for r in rcpts), token, token,
               extra, token))


class Checker:
    def __init__(self, ready):
        self.ready = ready
        self.boxes = ready.get('mailboxes', {})
        self.addresses = sorted(self.boxes)
        self.domain = self.addresses[0].split('@', 1)[1]
        self.ctx = ssl.create_default_context(cafile=ready['ca_file'])
        self.sent = []     # (message-id token, bytes, recipients)
        self.n = 0

    def token(self, what):
        self.n += 1
        return 'm%d-%s-%d' % (self.n, what, os.getpid())

    def connect(self, mode):
        if mode == 'tls':
            s = smtplib.SMTP_SSL('127.0.0.1', self.ready['submissions_port'],
                                 context=self.ctx, timeout=WAIT_TIMEOUT)
            s._host = 'localhost'
        else:
            s = smtplib.SMTP('127.0.0.1', self.ready['smtp_port'],
                             timeout=WAIT_TIMEOUT)
            s._host = 'localhost'
        s.ehlo('check.invalid')
        if mode == 'starttls':
            check(s.has_extn('starttls'), 'STARTTLS offered')
            if 'mechanisms' in self.ready:
                check(not s.has_extn('auth'),
                      'no AUTH before TLS (%s)' % s.esmtp_features.get('auth'))
            s.starttls(context=self.ctx)
            s.ehlo('check.invalid')
        return s

    def send(self, s, what, rcpts, sender='sender@check.invalid',
             mail_options=(), body_extra=''):
        tok = self.token(what)
        data = message(tok, sender, rcpts, body_extra)
        refused = s.sendmail(sender, rcpts, data.encode(), list(mail_options))
        check(not refused, '%s: sent %s to %s' % (what, tok, rcpts))
        self.sent.append((tok, data.encode(), rcpts))

    def plain(self):
        with self.connect('plain') as s:
            log('     EHLO (plain): ' + ' '.join(sorted(s.esmtp_features)))
            self.send(s, 'plain', self.addresses[:3])

    def auth(self, mode, mech):
        with self.connect(mode) as s:
            log('     EHLO (%s): %s' % (mode, ' '.join(
                '%s=%s' % (k, v) if v else k
                for k, v in sorted(s.esmtp_features.items()))))
            offered = s.esmtp_features.get('auth', '').upper().split()
            if not check(mech in offered, '%s: %s offered' % (mode, mech)):
                return
            s.user, s.password = self.ready['user'], self.ready['password']
            code, resp = s.auth(mech, getattr(s, 'auth_' + {
                'PLAIN': 'plain', 'LOGIN': 'login',
                'CRAM-MD5': 'cram_md5'}[mech]))
            check(code == 235, '%s AUTH %s: %d %s' % (mode, mech, code,
                                                     resp.decode()))
            self.send(s, '%s-%s' % (mode, mech.lower()), [self.addresses[0]])

    def wrong_password(self):
        with self.connect('starttls') as s:
            s.user, s.password = self.ready['user'], 'wrong-' + 'x' * 8
            mech = self.ready['mechanisms'][0]
            try:
                s.auth(mech, getattr(s, 'auth_' + mech.lower().replace(
                    '-', '_')))
                check(False, 'wrong password accepted')
            except smtplib.SMTPAuthenticationError as e:
                check(e.smtp_code == 535, 'wrong password (%s): %d %s'
                      % (mech, e.smtp_code, e.smtp_error.decode()))

    def smtputf8(self):
        with self.connect('plain') as s:
            if not check(s.has_extn('smtputf8'), 'SMTPUTF8 offered'):
                return
            self.send(s, 'smtputf8', [self.addresses[0]],
                      sender='j\u00f6rg@b\u00fccher.example',
                      mail_options=['SMTPUTF8', 'BODY=8BITMIME'],
                      body_extra='X-Note: gr\u00fc\u00dfe\r\n')

    def dsn(self):
        with self.connect('plain') as s:
            if not s.has_extn('dsn'):
                log('     DSN not offered, not tried')
                return
            tok = self.token('dsn')
            data = message(tok, 'sender@check.invalid', [self.addresses[1]])
            s.mail('sender@check.invalid', ['RET=HDRS', 'ENVID=' + tok])
            code, resp = s.rcpt(self.addresses[1], ['NOTIFY=NEVER'])
            check(code == 250, 'DSN RCPT NOTIFY=NEVER: %d' % code)
            code, resp = s.data(data.encode())
            check(code == 250, 'DSN message: %d %s' % (code, resp.decode()))
            self.sent.append((tok, data.encode(), [self.addresses[1]]))

    def too_big(self):
        limit = self.ready.get('size_limit')
        if not limit:
            log('     no size_limit: oversized message not tried')
            return
        with self.connect('plain') as s:
            check(s.has_extn('size') and
                  int(s.esmtp_features['size']) == limit,
                  'SIZE %s advertised' % s.esmtp_features.get('size'))
            data = message(self.token('big'), 'sender@check.invalid',
                           [self.addresses[0]], 'X-Fill: ' +
                           'x' * 70 + '\r\n') + ('y' * 998 + '\r\n') * (
                               limit // 1000 + 2)
            try:
                s.sendmail('sender@check.invalid', [self.addresses[0]],
                           data.encode())
                check(False, 'oversized message (%d octets) accepted'
                      % len(data))
            except (smtplib.SMTPSenderRefused,
                    smtplib.SMTPDataError) as e:
                check(500 <= e.smtp_code < 600,
                      'oversized message (%d octets) refused: %d %s'
                      % (len(data), e.smtp_code, e.smtp_error.decode()))

    def unknown(self):
        with self.connect('plain') as s:
            rcpt = 'nosuchuser@' + self.domain
            try:
                s.sendmail('sender@check.invalid', [rcpt],
                           message('unknown', 'x@y', [rcpt]).encode())
                check(False, 'unknown recipient accepted')
            except smtplib.SMTPRecipientsRefused as e:
                code, text = e.recipients[rcpt]
                check(code == 550, 'unknown recipient %s: %d %s'
                      % (rcpt, code, text.decode()))

    def stored(self):
        lf = bool(self.ready.get('stores_lf'))
        deadline = time.monotonic() + WAIT_TIMEOUT
        for tok, data, rcpts in self.sent:
            want = data.replace(b'\r\n', b'\n') if lf else data
            for rcpt in rcpts:
                found = None
                while found is None and time.monotonic() < deadline:
                    box = self.boxes[rcpt]
                    for name in sorted(os.listdir(box)):
                        with open(os.path.join(box, name), 'rb') as f:
                            content = f.read()
                        if (b'<%s@check.invalid>' % tok.encode()) in content:
                            found = content
                    if found is None:
                        time.sleep(0.1)
                if not check(found is not None,
                             'stored: %s in %s' % (tok, rcpt)):
                    continue
                # the server's header lines, then what was sent
                check(found.endswith(want),
                      'stored: %s in %s is what was sent%s' % (
                          tok, rcpt, ' (LF line ends)' if lf else ''))
                head = found[:len(found) - len(want)]
                log('     its own header lines: ' + ', '.join(
                    sorted({ln.split(b':')[0].decode(errors='replace')
                            for ln in head.splitlines()
                            if ln and ln[:1] not in b' \t'})))

    def logged(self):
        path = self.ready.get('log')
        if not check(path and os.path.exists(path), 'log at %s' % path):
            return
        deadline = time.monotonic() + WAIT_TIMEOUT
        while True:
            with open(path, errors='replace') as f:
                text = f.read()
            missing = [t for t, _, _ in self.sent
                       if '%s@check.invalid' % t not in text]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check(not missing, 'the log names every message (missing: %s)'
              % missing)
        for word in ('535', '550', 'A=', 'X=TLS'):
            log('     log lines with %r: %d' % (word, sum(
                word in ln for ln in text.splitlines())))


def main():
    if len(sys.argv) < 2:
        sys.exit('usage: check-mailserver.py LAUNCHER [--option=value ...]')
    d = tempfile.mkdtemp(prefix='check-mailserver-')
    os.chmod(d, 0o755)
    proc, ready = start(sys.argv[1], sys.argv[2:], d)
    try:
        c = Checker(ready)
        steps = [c.plain]
        for mech in ready.get('mechanisms', []):
            if mech in ('PLAIN', 'LOGIN', 'CRAM-MD5'):
                steps.append(lambda m=mech: c.auth('starttls', m))
        if 'submissions_port' in ready and ready.get('mechanisms'):
            steps.append(lambda: c.auth('tls', ready['mechanisms'][0]))
        if ready.get('mechanisms'):
            steps.append(c.wrong_password)
        steps += [c.smtputf8, c.dsn, c.too_big, c.unknown]
        for step in steps:
            try:
                step()
            except (smtplib.SMTPException, OSError) as e:
                check(False, '%s: %r' % (getattr(step, '__name__', 'step'),
                                         e))
        c.stored()
        c.logged()
    finally:
        proc.stdin.close()
        try:
            status = proc.wait(timeout=30)
            check(status == 0, 'launcher stopped at EOF (status %d)'
                  % status)
        except subprocess.TimeoutExpired:
            proc.kill()
            check(False, 'launcher did not stop within 30s of EOF')
    if failures:
        log('%d FAILED (directory kept: %s)' % (len(failures), d))
        return 1
    shutil.rmtree(d, ignore_errors=True)
    log('all passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
