#!/usr/bin/python3
# mailserver-postfix.py: a private Postfix (smtpd with STARTTLS, implicit
# TLS, SASL through a private Dovecot, delivery into Dovecot's Maildirs)
# for the libsmtpclient tests (protocol: tests/smtpclient-test-mailserver.h).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Everything lives under --dir: Postfix's main.cf and master.cf (written
# from scratch, not from /etc/postfix), its queue_directory,
# data_directory and log (maillog_file through postlogd), the Dovecot
# instance (mailserver_common.Dovecot) and a throwaway CA.  The master
# runs in the foreground (master -s) as this launcher's child and is
# stopped when stdin reaches end-of-file.
#
# smtpd listens on 127.0.0.1 only, on two free ports: "smtp_port" (STARTTLS
# offered) and "submissions_port" (smtpd_tls_wrappermode).  It offers
# PIPELINING, CHUNKING, 8BITMIME, DSN, SMTPUTF8, SIZE, ENHANCEDSTATUSCODES
# and, after TLS only, AUTH (Dovecot SASL: PLAIN LOGIN CRAM-MD5
# SCRAM-SHA-1 SCRAM-SHA-256).  Mailboxes: user@example.org (the SASL
# user), second@, third@, alice@, bob@ and carol@example.org; other recipients in
# example.org are refused at RCPT with 550, relaying elsewhere too.  Mail
# from 127.0.0.1 is accepted without AUTH (mynetworks).  Headers are not
# rewritten and none are added but Received, so a stored message ends
# with what the client sent.
#
# Delivery (--delivery):
#   lda   (default) Postfix's pipe runs dovecot-lda as the mail user, once
#         per recipient.  Dovecot stores CRLF (mail_save_crlf), and mail
#         that needs SMTPUTF8 (a UTF-8 address) is delivered too.
#   lmtp  Postfix's LMTP client to Dovecot's LMTP socket.  Also CRLF, but
#         Dovecot 2.3's LMTP does not offer SMTPUTF8, so Postfix bounces
#         mail with UTF-8 addresses ("SMTPUTF8 is required, but was not
#         offered").
#
# Options: --dir=DIR (required), --size=N (message_size_limit, octets;
# default 200 MiB), --delivery=lda|lmtp, --discard-ehlo=KEYWORD,... (EHLO
# keywords smtpd does not offer, e.g. pipelining,chunking: Postfix's
# smtpd_discard_ehlo_keywords), --recipient-limit=N (smtpd_recipient_limit:
# RCPT beyond N get "452 4.5.3 Error: too many recipients"; default 1000),
# --x-... ignored.

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mailserver_common as common  # noqa: E402

POSTFIX = '/usr/sbin/postfix'
MASTER = '/usr/lib/postfix/sbin/master'
USER = 'user@example.org'
PASSWORD = 'postfix-secret'
MAILBOXES = [USER, 'second@example.org', 'third@example.org',
             'alice@example.org', 'bob@example.org', 'carol@example.org']
DEFAULT_SIZE = 200 * 1024 * 1024

MASTER_CF = """\
# service type private unpriv chroot wakeup maxproc command
127.0.0.1:{smtp_port} inet n - n - - smtpd
127.0.0.1:{submissions_port} inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
dovecot unix - n n - - pipe
  flags= user={mail_user}:{mail_group}
  argv={lda} -c {dovecot_config} -f ${{sender}} -d ${{recipient}}
"""

MAIN_CF = """\
# A private Postfix for the libsmtpclient tests (made by {launcher})
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
meta_directory = /etc/postfix
maillog_file = {log}
maillog_file_prefixes = {base}
multi_instance_directories =
myhostname = mail.example.test
mydomain = example.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
virtual_alias_maps =
virtual_mailbox_domains = example.org
virtual_mailbox_maps = texthash:{vmailbox}
virtual_transport = {transport}
dovecot_destination_recipient_limit = 1
lmtp_line_length_limit = 0
lmtp_tls_security_level = none
smtpd_banner = $myhostname ESMTP Postfix (libsmtpclient tests)
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
  reject_unauth_destination
local_header_rewrite_clients =
always_add_missing_headers = no
message_size_limit = {size}
mailbox_size_limit = 0
smtputf8_enable = yes
smtpd_tls_chain_files = {key}, {cert}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth_socket}
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_discard_ehlo_keywords = {discard_ehlo}
smtpd_recipient_limit = {recipient_limit}
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_junk_command_limit = 100000
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_new_tls_session_rate_limit = 0
smtpd_client_auth_rate_limit = 0
anvil_rate_time_unit = 60s
in_flow_delay = 0
delay_warning_time = 0
biff = no
enable_long_queue_ids = yes
"""


def main():
    options = common.parse_options(sys.argv[1:],
                                   {'dir', 'size', 'delivery', 'discard-ehlo',
                                    'recipient-limit'})
    common.require_root()
    common.require_programs('postfix', POSTFIX, MASTER, '/usr/sbin/postconf')
    common.require_users('postfix')
    common.Dovecot.check()
    common.require_programs('dovecot-core', common.DOVECOT_LDA)
    size = int(options.get('size') or DEFAULT_SIZE)
    delivery = options.get('delivery') or 'lda'
    if delivery not in ('lda', 'lmtp'):
        common.fail('--delivery=lda or --delivery=lmtp')

    directory = options['dir']
    common.open_directory(directory)
    ca, cert, key = common.make_certs(os.path.join(directory, 'certs'))
    dovecot = common.Dovecot(os.path.join(directory, 'dovecot'), MAILBOXES,
                             PASSWORD)
    base = common.mkdir(os.path.join(directory, 'postfix'))
    config = common.mkdir(os.path.join(base, 'etc'))
    queue = common.mkdir(os.path.join(base, 'queue'))
    data = common.mkdir(os.path.join(base, 'data'), ('postfix', 'postfix'),
                        0o700)
    log = os.path.join(base, 'postfix.log')
    vmailbox = common.write_file(
        os.path.join(config, 'vmailbox'),
        ''.join('%s %s\n' % (address, address) for address in MAILBOXES))
    ports = {'smtp_port': common.free_port(),
             'submissions_port': common.free_port()}
    while ports['submissions_port'] == ports['smtp_port']:
        ports['submissions_port'] = common.free_port()
    common.write_file(os.path.join(config, 'master.cf'), MASTER_CF.format(
        mail_user=common.MAIL_USER, mail_group=common.MAIL_GROUP,
        lda=common.DOVECOT_LDA, dovecot_config=dovecot.config, **ports))
    if delivery == 'lmtp':
        transport = 'lmtp:unix:' + dovecot.lmtp_socket
    else:
        transport = 'dovecot'

    common.write_file(os.path.join(config, 'main.cf'), MAIN_CF.format(
        launcher=sys.argv[0], base=base, queue=queue, data=data, log=log,
        vmailbox=vmailbox, transport=transport, size=size,
        discard_ehlo=options.get('discard-ehlo', '').replace(',', ' '),
        recipient_limit=int(options.get('recipient-limit') or 1000),
        key=key, cert=cert, auth_socket=dovecot.auth_socket))

    env = dict(os.environ, MAIL_CONFIG=config)
    env.pop('MAIL_DEBUG', None)
    master = None
    master_guard = None
    try:
        dovecot.start()
        # "postfix check" makes the queue's subdirectories and fixes their
        # owners; then the master runs in the foreground as our child.
        checked = subprocess.run([POSTFIX, '-c', config, 'check'], env=env,
                                 capture_output=True, text=True,
                                 timeout=common.START_TIMEOUT)
        if checked.returncode != 0:
            common.fail('postfix check failed: %s%s'
                        % (checked.stdout, checked.stderr))
        out = os.path.join(base, 'master.out')
        master = common.spawn([MASTER, '-c', config, '-s'], out, env)
        # The master clears its parent-death signal: a watchdog stops it
        # should this launcher be killed
        master_guard = common.guard(master)
        common.wait_for('postfix', lambda: all(
            common.can_connect_tcp(p) for p in ports.values()), master, out)
        common.ready(dict(
            ports,
            ca_file=ca,
            user=USER,
            password=PASSWORD,
            mailboxes=dovecot.mailboxes(),
            log=log,
            dovecot_log=dovecot.log,
            mechanisms=common.DOVECOT_MECHANISMS,
            size_limit=size))
        common.wait_for_stdin_eof()
    finally:
        common.stop_process(master)
        if master_guard is not None:
            master_guard.stdin.close()
            master_guard.wait(common.STOP_TIMEOUT)
        dovecot.stop()


if __name__ == '__main__':
    main()
