# mailserver_common.py: what the real-mail-server launchers
# (mailserver-postfix.py, mailserver-dovecot-lmtp.py) share: options, the
# SKIP/READY protocol of tests/smtpclient-test-mailserver.h, throwaway
# certificates, free ports, a private Dovecot instance, and the wait for
# end-of-file on stdin.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Everything is made under the launcher's --dir: never the system's mail
# set-up (/etc/postfix, /etc/dovecot, /var/spool, /var/mail).

import ctypes
import json
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# The mail user: owns the Maildirs; Dovecot delivers as this user
MAIL_USER = 'nobody'
MAIL_GROUP = 'nogroup'

# Bounds on the waits of a launcher
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

PR_SET_PDEATHSIG = 1


def skip(reason):
    """Say SKIP (the test skips with @reason) and exit 0."""
    sys.stdout.write('SKIP %s\n' % reason)
    sys.stdout.flush()
    sys.exit(0)


def fail(message):
    sys.stderr.write('%s: %s\n' % (os.path.basename(sys.argv[0]), message))
    sys.exit(1)


def ready(info):
    sys.stdout.write('READY %s\n' % json.dumps(info, sort_keys=True))
    sys.stdout.flush()


def parse_options(argv, known):
    """--name=value options: a dict of the @known names (without --);
    --x-... options are ignored, anything else is an error."""
    options = {}
    for arg in argv:
        if not arg.startswith('--'):
            fail('unexpected argument %r' % arg)
        name, _, value = arg[2:].partition('=')
        if name.startswith('x-'):
            continue
        if name not in known:
            fail('unknown option --%s' % name)
        options[name] = value
    if 'dir' not in options or not os.path.isabs(options['dir']):
        fail('--dir=DIR (an absolute path) is required')
    return options


def require_root():
    if os.geteuid() != 0:
        skip('the private mail servers must run as root (they drop '
             'privileges to the postfix, dovecot and nobody users)')


def require_programs(package, *paths):
    for path in paths:
        if not os.access(path, os.X_OK):
            skip('%s is missing (package %s; tests/install-deps.sh '
                 'installs it)' % (path, package))


def require_users(*names):
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            skip('system user %s is missing' % name)


def open_directory(path):
    """Make @path (and its parents) traversable by the unprivileged server
    processes, or skip when a parent is not."""
    os.chmod(path, 0o755)
    parent = os.path.dirname(path)
    while parent not in ('', '/'):
        mode = os.stat(parent).st_mode
        if not mode & 0o001:
            skip('%s is not searchable by other users: the mail servers '
                 '(running as postfix, dovecot, nobody) cannot reach %s'
                 % (parent, path))
        parent = os.path.dirname(parent)


def mkdir(path, owner=None, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    if owner is not None:
        user, group = owner
        os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    return path


def write_file(path, text, mode=0o644):
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def make_certs(directory):
    """A throwaway CA and a server certificate for localhost/127.0.0.1
    (tests/servers/make-certs.sh): returns (ca.pem, server.pem,
    server.key)."""
    if not shutil.which('openssl'):
        skip('openssl is missing (package openssl)')
    mkdir(directory)
    subprocess.run(['/bin/sh', os.path.join(HERE, 'make-certs.sh'),
                    directory], check=True, timeout=START_TIMEOUT,
                   stdout=subprocess.DEVNULL)
    return tuple(os.path.join(directory, name)
                 for name in ('ca.pem', 'server.pem', 'server.key'))


def _die_with_parent():
    """In the child: SIGTERM when the launcher dies, so that a killed
    launcher leaves no server behind."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv, log_path, env=None):
    log = open(log_path, 'ab')
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent)
    finally:
        log.close()


def guard(process):
    """A watchdog that stops @process (SIGTERM, then SIGKILL) once this
    launcher is gone, however it ends: for daemons that clear their
    parent-death signal (Postfix's master does).  It waits for end-of-file
    on a pipe only this launcher holds."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__),
                             'guard', str(process.pid)],
                            stdin=subprocess.PIPE, start_new_session=True)


def _run_guard(pids):
    try:
        while sys.stdin.buffer.read1(4096):
            pass
    except OSError:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_for(what, predicate, process=None, log_path=None):
    """Wait (bounded) until predicate() is true."""
    deadline = time.monotonic() + START_TIMEOUT
    while not predicate():
        if process is not None and process.poll() is not None:
            fail('%s exited with status %d before it was ready%s'
                 % (what, process.returncode, tail_hint(log_path)))
        if time.monotonic() > deadline:
            fail('%s not ready after %d s%s'
                 % (what, START_TIMEOUT, tail_hint(log_path)))
        time.sleep(0.05)


def tail_hint(log_path):
    if log_path is None or not os.path.exists(log_path):
        return ''
    with open(log_path, 'rb') as f:
        lines = f.read().decode('utf-8', 'replace').splitlines()[-15:]
    return '; end of %s:\n  %s' % (log_path, '\n  '.join(lines))


def can_connect_tcp(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
            return True
    except OSError:
        return False


def can_connect_unix(path):
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def stop_process(process):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def wait_for_stdin_eof():
    while True:
        try:
            data = sys.stdin.buffer.read1(4096)
        except (OSError, ValueError):
            return
        if not data:
            return


# ---------------------------------------------------------------------------
# A private Dovecot: LMTP on a Unix socket, Maildirs, a passwd-file with
# plaintext passwords (so every SASL mechanism works), and optionally an
# auth socket for Postfix's smtpd.

DOVECOT = '/usr/sbin/dovecot'
DOVECOT_LDA = '/usr/lib/dovecot/dovecot-lda'
DOVECOT_MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1',
                      'SCRAM-SHA-256']


class Dovecot:
    def __init__(self, directory, users, password, full_users=()):
        """@users: addresses (local@domain) of the mailboxes, each with
        @password; @full_users: more of them, whose quota (1 KB) refuses
        any bigger message after the data (LMTP: 552 for that recipient
        alone)."""
        self.directory = directory
        self.users = list(users) + list(full_users)
        self.full_users = list(full_users)
        self.password = password
        self.run_dir = os.path.join(directory, 'run')
        self.mail_dir = os.path.join(directory, 'mail')
        self.log = os.path.join(directory, 'dovecot.log')
        self.config = os.path.join(directory, 'dovecot.conf')
        self.lmtp_socket = os.path.join(self.run_dir, 'lmtp')
        self.auth_socket = os.path.join(self.run_dir, 'auth-smtpd')
        self.process = None

    @staticmethod
    def check():
        require_programs('dovecot-core', DOVECOT)
        require_programs('dovecot-lmtpd', '/usr/lib/dovecot/lmtp')
        require_users(MAIL_USER, 'dovecot', 'dovenull')

    def maildir_new(self, address):
        local, _, domain = address.partition('@')
        return os.path.join(self.mail_dir, domain, local, 'Maildir', 'new')

    def mailboxes(self):
        return {address: self.maildir_new(address) for address in self.users}

    def write_config(self):
        mkdir(self.directory)
        mkdir(os.path.join(self.directory, 'state'))
        uid = pwd.getpwnam(MAIL_USER).pw_uid
        gid = grp.getgrnam(MAIL_GROUP).gr_gid
        mkdir(self.mail_dir, (MAIL_USER, MAIL_GROUP))
        lines = []
        for address in self.users:
            local, _, domain = address.partition('@')
            home = os.path.join(self.mail_dir, domain, local)
            mkdir(os.path.join(self.mail_dir, domain),
                  (MAIL_USER, MAIL_GROUP))
            extra = ''
            if address in self.full_users:
                extra = 'userdb_quota_rule=*:storage=1K'
            # user:password:uid:gid:gecos:home:shell:extra
            lines.append('%s:{PLAIN}%s:%d:%d::%s::%s'
                         % (address, self.password, uid, gid, home, extra))
        users_file = write_file(os.path.join(self.directory, 'users'),
                                '\n'.join(lines) + '\n', 0o640)
        os.chown(users_file, 0, grp.getgrnam('dovecot').gr_gid)
        d = self.directory
        write_file(self.config, f"""\
# A private Dovecot for the libsmtpclient tests (made by {sys.argv[0]})
instance_name = smtpclient-test-{os.getpid()}
base_dir = {self.run_dir}
state_dir = {d}/state
log_path = {self.log}
info_log_path = {self.log}
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_save_crlf = yes
mail_fsync = never
# Quota: unlimited but for the full users (their own quota_rule)
mail_plugins = quota
plugin {{
  quota = maildir:User quota
}}
disable_plaintext_auth = no
auth_mechanisms = {' '.join(m.lower() for m in DOVECOT_MECHANISMS)}
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users_file}
}}
# dovecot-lda runs as the mail user and writes its statistics too
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener auth-smtpd {{
    mode = 0666
  }}
  # dovecot-lda (run by Postfix's pipe as the mail user) looks users up
  unix_listener auth-userdb {{
    mode = 0666
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@example.org
}}
lmtp_save_to_detail_mailbox = no
""")

    def start(self):
        self.write_config()
        # dovecot-lda (run as the mail user) logs to it as well
        write_file(self.log, '', 0o644)
        os.chown(self.log, pwd.getpwnam(MAIL_USER).pw_uid,
                 grp.getgrnam(MAIL_GROUP).gr_gid)
        out = os.path.join(self.directory, 'dovecot.out')
        self.process = spawn([DOVECOT, '-F', '-c', self.config], out)
        wait_for('dovecot', lambda: (can_connect_unix(self.lmtp_socket)
                                     and can_connect_unix(self.auth_socket)),
                 self.process, out)

    def stop(self):
        stop_process(self.process)


if __name__ == '__main__' and sys.argv[1:2] == ['guard']:
    _run_guard([int(pid) for pid in sys.argv[2:]])
