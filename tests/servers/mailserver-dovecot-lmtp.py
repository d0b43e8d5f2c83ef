#!/usr/bin/python3
# mailserver-dovecot-lmtp.py: a private Dovecot LMTP server for the
# libsmtpclient tests (protocol: tests/smtpclient-test-mailserver.h).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Everything lives under --dir: dovecot.conf, base_dir (with the LMTP
# socket), state_dir, the log and the Maildirs.  The system's
# /etc/dovecot is not read.  LMTP listens on a Unix socket only
# ("lmtp_socket"); messages are stored with CRLF line ends
# (mail_save_crlf = yes).  Mailboxes: alice@, bob@, carol@example.org,
# and full@example.org, whose quota of 1 KB refuses bigger messages after
# the data (552 5.2.2 to that recipient only); other recipients are
# refused at RCPT.  Runs until stdin reaches
# end-of-file.
#
# Options: --dir=DIR (required); --x-... are ignored.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mailserver_common as common  # noqa: E402

USERS = ['alice@example.org', 'bob@example.org', 'carol@example.org']
# Over quota for any message above 1 KB: refused after the data
FULL_USERS = ['full@example.org']
PASSWORD = 'lmtp-secret'


def main():
    options = common.parse_options(sys.argv[1:], {'dir'})
    common.require_root()
    common.Dovecot.check()
    directory = options['dir']
    common.open_directory(directory)
    dovecot = common.Dovecot(os.path.join(directory, 'dovecot'), USERS,
                             PASSWORD, FULL_USERS)
    try:
        dovecot.start()
        common.ready({
            'lmtp_socket': dovecot.lmtp_socket,
            'mailboxes': dovecot.mailboxes(),
            'log': dovecot.log,
        })
        common.wait_for_stdin_eof()
    finally:
        dovecot.stop()


if __name__ == '__main__':
    main()
