#!/usr/bin/python3
# send-mail.py: send one message asynchronously with libsmtpclient from
# Python (PyGObject).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Run:  python3 send-mail.py SERVER PORT [FROM TO]
#
# The task is started with send_async(); the outcome arrives both as a
# signal (succeeded or failed, with the context set on the task) and in the
# callback.  The progress signal reports the upload, and a Gio.Cancellable
# stops the delivery when it takes longer than a minute.

import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("SmtpClient", "1.0")
from gi.repository import Gio, GLib, SmtpClient  # noqa: E402


def main(argv):
    if len(argv) < 3:
        print("Usage: %s SERVER PORT [FROM TO]" % argv[0], file=sys.stderr)
        return 2
    server, port = argv[1], int(argv[2])
    sender = argv[3] if len(argv) > 3 else "sender@example.org"
    recipient = argv[4] if len(argv) > 4 else "recipient@example.org"

    message = ("From: <%s>\r\n"
               "To: <%s>\r\n"
               "Subject: Hello from send-mail.py\r\n"
               "\r\n"
               "This message was sent by the Python example of "
               "libsmtpclient.\r\n" % (sender, recipient))

    task = SmtpClient.Task(server=server, port=port,
                           **{"from": sender},   # "from" is a Python keyword
                           to=[recipient],
                           body=GLib.Bytes.new(message.encode()),
                           context=GLib.Variant("s", "greeting-1"))

    def on_progress(task, sent, total):
        print("progress: %d of %d bytes" % (sent, total))

    def on_succeeded(task, context, log):
        print("succeeded: %s, server said: %s"
              % (context.unpack(), task.get_reply()))

    def on_failed(task, context, error, log):
        print("failed: %s: %s" % (context.unpack(), error.message),
              file=sys.stderr)

    task.connect("progress", on_progress)
    task.connect("succeeded", on_succeeded)
    task.connect("failed", on_failed)

    loop = GLib.MainLoop()
    cancellable = Gio.Cancellable()
    status = [1]

    def on_sent(task, result):
        try:
            task.send_finish(result)
            status[0] = 0
        except GLib.Error as error:
            if error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED):
                status[0] = 2
        loop.quit()

    def on_timeout():
        print("cancelling", file=sys.stderr)
        cancellable.cancel()
        return GLib.SOURCE_REMOVE

    GLib.timeout_add_seconds(60, on_timeout)
    task.send_async(cancellable, on_sent)
    loop.run()
    return status[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
