#!/usr/bin/python3
# run-example.py: run one of the examples against an aiosmtpd server that
# this script starts, and check what arrived.  TAP output.
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Usage: run-example.py [--messages N] [--subject TEXT] [--recipient ADDR]...
#                       [--expect-output TEXT]... -- COMMAND [ARG...]
#
# The example is run as COMMAND ARG... 127.0.0.1 PORT [EXTRA...], where
# PORT is the server's; it must exit 0, print each --expect-output text on
# its standard output, and N messages (default 1) must have arrived, each
# with a Subject containing TEXT, and (if given) the envelope recipients of
# all of them must be the ADDRs (in any order: a session may deliver in
# parallel).
# Environment: SMTPCLIENT_TEST_SERVERS (tests/servers), and whatever the
# example needs (GI_TYPELIB_PATH, LD_LIBRARY_PATH for the bindings).

import argparse
import subprocess
import sys

from smtpclient_test import Checks, Server

WAIT_SECONDS = 120


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1)
    parser.add_argument("--subject", default="")
    parser.add_argument("--recipient", action="append", default=[])
    parser.add_argument("--expect-output", action="append", default=[])
    parser.add_argument("--extra", action="append", default=[],
                        help="argument to put after SERVER PORT")
    parser.add_argument("command", nargs="+")
    options = parser.parse_args()

    try:
        server = Server()
    except RuntimeError as e:
        print("Bail out! %s" % e)
        return 1
    checks = Checks()
    with server:
        port = str(server.port)

        print("1..%d" % (3 + options.messages + len(options.expect_output)))
        command = options.command + ["127.0.0.1", port] + options.extra
        print("# running: %s" % " ".join(command))
        try:
            result = subprocess.run(command, capture_output=True,
                                    timeout=WAIT_SECONDS,
                                    stdin=subprocess.DEVNULL)
            returncode = result.returncode
            stdout = result.stdout.decode("utf-8", "replace")
            stderr = result.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            returncode, stdout, stderr = "timeout", "", str(e)
        for text in stdout.splitlines():
            print("# out: " + text)
        for text in stderr.splitlines():
            print("# err: " + text)
        checks.check(returncode == 0, "the example exits 0",
                     "exit status %s" % returncode)
        for text in options.expect_output:
            checks.check(text in stdout, "the example printed %r" % text)

        arrived = server.messages()
        checks.check(len(arrived) == options.messages,
                     "%d message(s) arrived" % options.messages,
                     "found %d" % len(arrived))
        rcpts = []
        for envelope, _ in arrived:
            rcpts += envelope.get("rcpt_tos", fallback="").split(";")
        if options.recipient:
            checks.check(sorted(rcpts) == sorted(options.recipient),
                         "the messages went to %s"
                         % ", ".join(options.recipient), "rcpt_tos=%r" % rcpts)
        else:
            checks.check(rcpts and all(rcpts),
                         "the messages have envelope recipients", rcpts)
        for n in range(1, options.messages + 1):
            content = arrived[n - 1][1] if n <= len(arrived) else b""
            subject = [h for h in content.split(b"\r\n\r\n")[0].split(b"\r\n")
                       if h.lower().startswith(b"subject:")]
            checks.check(len(subject) == 1 and
                         options.subject.encode() in subject[0],
                         "message %d has a Subject with %r"
                         % (n, options.subject), "subject=%r" % subject)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
