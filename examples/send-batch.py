#!/usr/bin/python3
# send-batch.py: send a batch of messages through one SmtpClient.Session,
# which reuses its connections (and opens up to max-connections of them).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run:  python3 send-batch.py SERVER PORT [COUNT]
#
# Each task points at the session ("session" property) and is sent with
# send_async(); its context names it, and the succeeded/failed signals tell
# which message they are about.  When every task has finished, the session
# is closed (QUIT on its idle connections) with close_async().  One
# Gio.Cancellable stops the whole batch if it takes longer than two minutes.

import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("SmtpClient", "1.0")
from gi.repository import Gio, GLib, SmtpClient  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print("Usage: %s SERVER PORT [COUNT]" % argv[0], file=sys.stderr)
        return 2
    count = int(argv[3]) if len(argv) > 3 else 5

    # Connection settings live on the session; the tasks' own are ignored.
    session = SmtpClient.Session(server=argv[1], port=int(argv[2]),
                                 max_connections=2, idle_timeout=10)

    loop = GLib.MainLoop()
    cancellable = Gio.Cancellable()
    pending = set()
    results = {}

    def on_progress(task, sent, total):
        print("%s: %d of %d bytes" % (task.props.context.unpack(), sent, total))

    def on_succeeded(task, context, log):
        results[context.unpack()] = "sent"
        print("%s: succeeded: %s" % (context.unpack(), task.get_reply()))

    def on_failed(task, context, error, log):
        results[context.unpack()] = error.message
        print("%s: failed: %s" % (context.unpack(), error.message),
              file=sys.stderr)

    def on_closed(session, result):
        session.close_finish(result)
        loop.quit()

    def on_sent(task, result):
        try:
            task.send_finish(result)
        except GLib.Error:
            pass   # reported by the failed signal
        pending.discard(task)
        if not pending:
            session.close_async(None, on_closed)

    for n in range(1, count + 1):
        name = "message-%d" % n
        body = ("From: <batch@example.org>\r\n"
                "To: <list-%d@example.org>\r\n"
                "Subject: Batch message %d of %d\r\n"
                "\r\n"
                "One of a batch sent through one SmtpClient.Session.\r\n"
                % (n, n, count))
        task = SmtpClient.Task(session=session, to=["list-%d@example.org" % n],
                               body=GLib.Bytes.new(body.encode()),
                               context=GLib.Variant("s", name),
                               **{"from": "batch@example.org"})
        task.connect("progress", on_progress)
        task.connect("succeeded", on_succeeded)
        task.connect("failed", on_failed)
        pending.add(task)
        task.send_async(cancellable, on_sent)

    def on_timeout():
        print("cancelling", file=sys.stderr)
        cancellable.cancel()
        return GLib.SOURCE_REMOVE

    GLib.timeout_add_seconds(120, on_timeout)
    loop.run()

    sent = sum(1 for r in results.values() if r == "sent")
    print("%d of %d messages sent" % (sent, count))
    return 0 if sent == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
