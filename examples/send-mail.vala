/* send-mail.vala: send one message asynchronously with libsmtpclient from
 * Vala.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Build:  valac --pkg smtpclient-1.0 send-mail.vala
 * Run:    ./send-mail SERVER PORT [FROM TO]
 *
 * The task is sent with the async method send_async (a Vala "async"
 * method: "yield" waits without blocking the main loop); the outcome also
 * arrives as a signal (succeeded or failed, with the context set on the
 * task).  The progress signal reports the upload, and a Cancellable stops
 * the delivery when it takes longer than a minute.
 */

async int send_mail (string server, uint port, string sender,
                     string recipient) {
    var message = "From: <%s>\r\n".printf (sender) +
                  "To: <%s>\r\n".printf (recipient) +
                  "Subject: Hello from send-mail.vala\r\n" +
                  "\r\n" +
                  "This message was sent by the Vala example of " +
                  "libsmtpclient.\r\n";

    var task = new SmtpClient.Task ();
    task.server = server;
    task.port = port;
    task.from = sender;
    task.to = { recipient };
    task.body = new Bytes (message.data);
    task.context = new Variant.string ("greeting-1");

    task.progress.connect ((sent, total) => {
        print ("progress: %" + uint64.FORMAT + " of %" + uint64.FORMAT +
               " bytes\n", sent, total);
    });
    task.succeeded.connect ((context, log) => {
        print ("succeeded: %s, server said: %s\n",
               context.get_string (), task.get_reply ());
    });
    task.failed.connect ((context, error, log) => {
        printerr ("failed: %s: %s\n", context.get_string (), error.message);
    });

    var cancellable = new Cancellable ();
    var timeout_id = Timeout.add_seconds (60, () => {
        printerr ("cancelling\n");
        cancellable.cancel ();
        return Source.CONTINUE;
    });

    int status = 1;
    try {
        yield task.send_async (cancellable);
        status = 0;
    } catch (IOError.CANCELLED error) {
        status = 2;
    } catch (Error error) {
        /* already reported by the failed signal */
    }

    Source.remove (timeout_id);
    return status;
}

int main (string[] args) {
    if (args.length < 3) {
        printerr ("Usage: %s SERVER PORT [FROM TO]\n", args[0]);
        return 2;
    }

    var loop = new MainLoop ();
    int status = 1;
    send_mail.begin (args[1], (uint) int.parse (args[2]),
                     args.length > 3 ? args[3] : "sender@example.org",
                     args.length > 4 ? args[4] : "recipient@example.org",
                     (obj, result) => {
        status = send_mail.end (result);
        loop.quit ();
    });
    loop.run ();
    return status;
}
