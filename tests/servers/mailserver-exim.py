#!/usr/bin/python3
# mailserver-exim.py: a real Exim 4 (Debian 12's exim4-daemon-light, 4.96)
# for the libsmtpclient tests, with a private configuration under --dir.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Speaks the launcher protocol of tests/smtpclient-test-mailserver.h: one
# "SKIP <reason>" line (then exits 0) or one "READY <json>" line on stdout,
# nothing else there; it stops Exim when its stdin reaches end-of-file.
#
# Options:
#   --dir=DIR     its private directory (made by the caller; must be
#                 reachable by the user "nobody": this script makes DIR
#                 itself mode 0755)
#   --size=N      message_size_limit N octets (READY "size_limit")
#   --exim=PATH   the exim4 binary (default: $SMTPCLIENT_TEST_EXIM, else
#                 .deps/exim4/usr/sbin/exim4 at the top of the checkout)
#   --x-*         ignored
#
# Exim is not installed as a package (it conflicts with Postfix, which
# other tests use): tests/install-deps.sh unpacks the .deb with dpkg -x
# into .deps/exim4/.  That binary was built with the compiled-in user
# "Debian-exim", which it looks up before reading any configuration and
# which only the package's maintainer scripts create.  Rather than adding
# a user to the system, the script runs Exim under nss_wrapper (Debian's
# libnss-wrapper, LD_PRELOAD) with private passwd and group files in which
# Debian-exim is uid/gid 65534 (nobody/nogroup).
#
# Who runs as whom: this script and the Exim daemon run as root (Exim
# keeps root with -C only for a root caller); the process that receives a
# message runs as exim_user nobody:nogroup and re-executes Exim (not
# set-user-ID: install-deps.sh removes the bit, which would make the loader
# ignore LD_PRELOAD) to deliver it; that process, as nobody, logs "exim
# user lost privilege for using -C option" and delivers with the
# appendfile transport as nobody:nogroup, which needs no privilege.  So
# the spool, log and mail directories are made here and given to
# 65534:65534.  Messages are stored with CRLF line ends (use_crlf), so
# READY says "stores_lf": false.
#
# Layout of DIR: certs/ (make-certs.sh), exim.conf, passwd, group,
# spool/, log/mainlog (+ rejectlog, paniclog), mail/LOCALPART/Maildir/,
# exim.stderr (Exim's standard error).

import json
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
NSS_WRAPPER = '/usr/lib/x86_64-linux-gnu/libnss_wrapper.so'
NOBODY = 65534
LOCAL_PARTS = ('user', 'alice', 'bob', 'carol')
DOMAIN = 'example.org'
MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5']
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def skip(reason):
    say('SKIP ' + reason)
    sys.exit(0)


def fail(message):
    sys.stderr.write('mailserver-exim: ' + message + '\n')
    sys.exit(1)


def parse_options(argv):
    opts = {}
    for arg in argv:
        if not arg.startswith('--') or '=' not in arg:
            if arg.startswith('--x-'):
                continue
            fail('bad argument %r (want --name=value)' % arg)
        name, value = arg[2:].split('=', 1)
        if name.startswith('x-'):
            continue
        if name not in ('dir', 'size', 'exim'):
            fail('unknown option --%s' % name)
        opts[name] = value
    if 'dir' not in opts:
        fail('--dir=DIR is required')
    return opts


def free_ports(n):
    """@n distinct free TCP ports on 127.0.0.1 (closed again: Exim binds
    them; a port taken in between makes Exim fail, and we try again)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def check_reachable(path):
    """Every ancestor of @path must be searchable by others (nobody)."""
    p = os.path.abspath(path)
    while True:
        parent = os.path.dirname(p)
        if parent == p:
            return
        if not os.stat(parent).st_mode & 0o001:
            fail('%s is not searchable by others: Exim\'s user nobody '
                 'cannot reach %s' % (parent, path))
        p = parent


def make_dir(path, mode=0o755, owner=NOBODY):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    os.chown(path, owner, owner)


CONFIG = r'''# Written by tests/servers/mailserver-exim.py; nothing else is read.
exim_path = @EXIM@
exim_user = nobody
exim_group = nogroup
never_users = root
keep_environment = LD_PRELOAD : NSS_WRAPPER_PASSWD : NSS_WRAPPER_GROUP
primary_hostname = localhost
qualify_domain = @DOMAIN@
domainlist local_domains = @DOMAIN@
spool_directory = @DIR@/spool
log_file_path = @DIR@/log/%slog
pid_file_path = @DIR@/exim.pid
log_selector = +smtp_connection +smtp_protocol_error +smtp_syntax_error \
  +tls_cipher +tls_peerdn +received_recipients +deliver_time \
  +incoming_port +smtp_confirmation +pipelining +smtp_no_mail
local_interfaces = 127.0.0.1
daemon_smtp_ports = @SMTP_PORT@ : @SUBMISSIONS_PORT@
tls_on_connect_ports = @SUBMISSIONS_PORT@
tls_advertise_hosts = *
tls_certificate = @DIR@/certs/server.pem
tls_privatekey = @DIR@/certs/server.key
# no DNS, no ident, nothing outside this machine
host_lookup =
rfc1413_hosts =
helo_try_verify_hosts =
smtputf8_advertise_hosts = *
dsn_advertise_hosts = *
pipelining_advertise_hosts = *
chunking_advertise_hosts = *
accept_8bitmime = true
message_size_limit = @SIZE_LIMIT@
smtp_accept_max = 50
queue_only = false
# Deliver at once however many messages a connection carries (the default,
# 10, queues the rest for a queue runner this private instance has not)
smtp_accept_queue_per_connection = 0
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  deny    message = relay not permitted
          domains = !+local_domains
  require verify = recipient
  accept

begin routers

local_maildir:
  driver = accept
  domains = +local_domains
  local_parts = @LOCAL_PARTS@
  transport = maildir_delivery

begin transports

maildir_delivery:
  driver = appendfile
  directory = @DIR@/mail/$local_part_data/Maildir
  maildir_format
  create_directory
  delivery_date_add
  envelope_to_add
  return_path_add
  user = nobody
  group = nogroup
  mode = 0644
  # keep the CRLF line ends the message came with
  use_crlf

begin retry

*  *  F,1m,1m

begin authenticators

plain_server:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{@USER@}}{eq{$auth3}{@PASSWORD@}}}}
  server_set_id = $auth2
  server_advertise_condition = ${if def:tls_in_cipher}

login_server:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and {{eq{$auth1}{@USER@}}{eq{$auth2}{@PASSWORD@}}}}
  server_set_id = $auth1
  server_advertise_condition = ${if def:tls_in_cipher}

cram_md5_server:
  driver = cram_md5
  public_name = CRAM-MD5
  server_secret = ${if eq{$auth1}{@USER@}{@PASSWORD@}fail}
  server_set_id = $auth1
  server_advertise_condition = ${if def:tls_in_cipher}
'''


def write_config(d, exim, ports, size_limit, user, password):
    values = {'EXIM': exim, 'DOMAIN': DOMAIN, 'DIR': d,
              'SMTP_PORT': str(ports[0]),
              'SUBMISSIONS_PORT': str(ports[1]),
              'SIZE_LIMIT': str(size_limit),
              'LOCAL_PARTS': ' : '.join(LOCAL_PARTS),
              'USER': user, 'PASSWORD': password}
    text = CONFIG
    for name, value in values.items():
        text = text.replace('@%s@' % name, value)
    path = os.path.join(d, 'exim.conf')
    with open(path, 'w') as f:
        f.write(text)
    # Exim refuses a configuration writable by anyone but its owner
    os.chmod(path, 0o644)
    return path


def write_nss_files(d):
    passwd = os.path.join(d, 'passwd')
    group = os.path.join(d, 'group')
    with open(passwd, 'w') as f:
        f.write('root:x:0:0:root:/root:/bin/sh\n'
                'Debian-exim:x:%d:%d:Exim:/nonexistent:/usr/sbin/nologin\n'
                'nobody:x:%d:%d:nobody:/nonexistent:/usr/sbin/nologin\n'
                % (NOBODY, NOBODY, NOBODY, NOBODY))
    with open(group, 'w') as f:
        f.write('root:x:0:\nDebian-exim:x:%d:\nnogroup:x:%d:\n'
                % (NOBODY, NOBODY))
    for p in (passwd, group):
        os.chmod(p, 0o644)
    return passwd, group


def banner_ok(port, tls_ca=None):
    """True when a 220 greeting arrives on @port (through TLS with @tls_ca)."""
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=2) as s:
            if tls_ca:
                import ssl
                ctx = ssl.create_default_context(cafile=tls_ca)
                s = ctx.wrap_socket(s, server_hostname='localhost')
            line = s.recv(512)
            s.sendall(b'QUIT\r\n')
            return line.startswith(b'220')
    except OSError:
        return False


def stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)
    # Exim's delivery processes are in the same process group
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start_exim(d, exim, conf, env, ports):
    """Start the daemon; None when it exited at once (a port was taken)."""
    err = open(os.path.join(d, 'exim.stderr'), 'ab')
    proc = subprocess.Popen(
        [exim, '-C', conf, '-bdf', '-oX', '%d:%d' % tuple(ports)],
        stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env,
        cwd=d, start_new_session=True)
    err.close()
    deadline = time.monotonic() + START_TIMEOUT
    ca = os.path.join(d, 'certs', 'ca.pem')
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if banner_ok(ports[0]) and banner_ok(ports[1], ca):
            return proc
        time.sleep(0.05)
    stop(proc)
    fail('Exim did not greet on ports %s within %ds; see %s/exim.stderr '
         'and %s/log/' % (ports, START_TIMEOUT, d, d))


def main():
    opts = parse_options(sys.argv[1:])
    d = os.path.abspath(opts['dir'])
    exim = opts.get('exim') or os.environ.get('SMTPCLIENT_TEST_EXIM') or \
        os.path.join(TOP, '.deps', 'exim4', 'usr', 'sbin', 'exim4')
    if os.geteuid() != 0:
        skip('Exim needs root (it keeps privileges with -C only for root)')
    if not os.access(exim, os.X_OK):
        skip('no Exim binary at %s (tests/install-deps.sh unpacks '
             'exim4-daemon-light there when run as root)' % exim)
    if not os.path.exists(NSS_WRAPPER):
        skip('%s missing (package libnss-wrapper)' % NSS_WRAPPER)
    if not os.path.isdir(d):
        fail('--dir=%s is not a directory' % d)
    size_limit = int(opts.get('size', '0'))

    check_reachable(d)
    os.chmod(d, 0o755)
    certs = os.path.join(d, 'certs')
    os.makedirs(certs, exist_ok=True)
    r = subprocess.run(['sh', os.path.join(HERE, 'make-certs.sh'), certs],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        fail('make-certs.sh failed: ' + r.stderr.decode(errors='replace'))
    os.chmod(certs, 0o755)
    for sub in ('spool', 'log', 'mail'):
        make_dir(os.path.join(d, sub))
    mailboxes = {}
    for lp in LOCAL_PARTS:
        md = os.path.join(d, 'mail', lp, 'Maildir')
        make_dir(os.path.join(d, 'mail', lp))
        make_dir(md, 0o700)
        for sub in ('new', 'cur', 'tmp'):
            make_dir(os.path.join(md, sub), 0o755)
        mailboxes['%s@%s' % (lp, DOMAIN)] = os.path.join(md, 'new')
    # Make the Maildirs readable to whoever reads them (the tests, root)
    for lp in LOCAL_PARTS:
        os.chmod(os.path.join(d, 'mail', lp, 'Maildir'), 0o755)

    user = 'user@' + DOMAIN
    password = 'pw' + secrets.token_hex(8)
    passwd, group = write_nss_files(d)
    env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin',
           'LD_PRELOAD': NSS_WRAPPER,
           'NSS_WRAPPER_PASSWD': passwd,
           'NSS_WRAPPER_GROUP': group}

    proc = None
    for _ in range(5):
        ports = free_ports(2)
        conf = write_config(d, exim, ports, size_limit, user, password)
        proc = start_exim(d, exim, conf, env, ports)
        if proc is not None:
            break
    if proc is None:
        with open(os.path.join(d, 'exim.stderr'), errors='replace') as f:
            fail('Exim exited at start: ' + f.read()[-2000:])

    ready = {
        'smtp_port': ports[0],
        'submissions_port': ports[1],
        'ca_file': os.path.join(certs, 'ca.pem'),
        'user': user,
        'password': password,
        'mailboxes': mailboxes,
        'log': os.path.join(d, 'log', 'mainlog'),
        'mechanisms': MECHANISMS,
        'stores_lf': False,
    }
    if size_limit:
        ready['size_limit'] = size_limit
    say('READY ' + json.dumps(ready, sort_keys=True))

    signal.signal(signal.SIGTERM, lambda *a: (stop(proc), sys.exit(0)))
    try:
        while True:
            r, _, _ = select.select([sys.stdin], [], [], 1.0)
            if proc.poll() is not None:
                fail('Exim exited on its own (status %s); see %s/log/'
                     % (proc.returncode, d))
            if r and not os.read(sys.stdin.fileno(), 4096):
                break
    finally:
        stop(proc)


if __name__ == '__main__':
    main()
