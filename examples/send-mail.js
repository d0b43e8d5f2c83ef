#!/usr/bin/gjs -m
// send-mail.js: send one message asynchronously with libsmtpclient from
// JavaScript (GJS).
//
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Run:  gjs -m send-mail.js SERVER PORT [FROM TO]
//
// The task is started with send_async(); the outcome arrives both as a
// signal (succeeded or failed, with the context set on the task) and in the
// callback.  The progress signal reports the upload, and a Gio.Cancellable
// stops the delivery when it takes longer than a minute.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import SmtpClient from 'gi://SmtpClient?version=1.0';
import System from 'system';

const args = ARGV;
if (args.length < 2) {
    printerr('Usage: send-mail.js SERVER PORT [FROM TO]');
    System.exit(2);
}

const [server, portText] = args;
const sender = args[2] ?? 'sender@example.org';
const recipient = args[3] ?? 'recipient@example.org';

const message = `From: <${sender}>\r\n` +
    `To: <${recipient}>\r\n` +
    'Subject: Hello from send-mail.js\r\n' +
    '\r\n' +
    'This message was sent by the GJS example of libsmtpclient.\r\n';

const task = new SmtpClient.Task({
    server,
    port: Number.parseInt(portText, 10),
    from: sender,
    to: [recipient],
    body: new GLib.Bytes(new TextEncoder().encode(message)),
    context: new GLib.Variant('s', 'greeting-1'),
});

task.connect('progress', (_task, sent, total) => {
    print(`progress: ${sent} of ${total} bytes`);
});
task.connect('succeeded', (self, context, _log) => {
    print(`succeeded: ${context.unpack()}, server said: ${self.get_reply()}`);
});
task.connect('failed', (_task, context, error, _log) => {
    printerr(`failed: ${context.unpack()}: ${error.message}`);
});

const loop = new GLib.MainLoop(null, false);
const cancellable = new Gio.Cancellable();
let status = 1;

const timeoutId = GLib.timeout_add_seconds(GLib.PRIORITY_DEFAULT, 60, () => {
    printerr('cancelling');
    cancellable.cancel();
    return GLib.SOURCE_CONTINUE;
});

task.send_async(cancellable, (self, result) => {
    try {
        self.send_finish(result);
        status = 0;
    } catch (error) {
        if (error.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED))
            status = 2;
    }
    loop.quit();
});

loop.run();
GLib.source_remove(timeoutId);
System.exit(status);
