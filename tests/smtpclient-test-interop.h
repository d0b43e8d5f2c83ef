/* smtpclient-test-interop.h: what the interop tests (test-interop-*.c)
 * share: mail servers started once per test program, bounded runs,
 * deterministic messages and byte-exact checks of what a server stored.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>
#include <smtpclient/smtpclient.h>

#include "smtpclient-test-mailserver.h"

G_BEGIN_DECLS

#define SMTP_TEST_KB 1024
#define SMTP_TEST_MB (1024 * 1024)

/* A task's or the CLI's whole run: up to 50 MB through Postfix */
#define SMTP_TEST_INTEROP_RUN_WAIT_S 180

/* A mail server started by the first test that needs it, stopped by
 * smtp_test_shared_server_free() at the end of the program */
typedef struct
{
  const char         *kind;
  const char         *option;    /* NULL or one launcher option */
  gboolean            tried;
  SmtpTestMailServer *server;
} SmtpTestSharedServer;

/* The server, or NULL when it cannot run here (the test is then skipped:
 * the first test that tried says why) */
SmtpTestMailServer *smtp_test_shared_server (SmtpTestSharedServer *shared);
void          smtp_test_shared_server_free (SmtpTestSharedServer *shared);

/* Iterate the thread-default context until *@done, at most @seconds
 * (then fail the test, naming @what) */
void      smtp_test_iterate_until      (const gboolean *done,
                                        guint           seconds,
                                        const char     *what);

/* send_async with transaction-log on, waiting (bounded) for the end;
 * returns what send_finish() returned */
gboolean  smtp_test_interop_run_task   (SmtpClientTask  *task,
                                        GError         **error);

/* Deterministic content of exactly @size bytes: headers a Postfix takes
 * unchanged (so that the stored message ends with it), then lines of 76
 * characters, some starting with "." (dot-stuffing over DATA), CRLF line
 * ends.  Under 200 bytes: that many "x" */
GBytes   *smtp_test_make_message       (gsize           size,
                                        guint           seed);
/* What goes on the wire for @content: a final CRLF added when missing */
GBytes   *smtp_test_wire_form          (GBytes         *content);

/* @stored ends with @sent byte for byte: compared as SHA-256 sums of
 * @sent and of as many bytes at the end of @stored (the server's own
 * header lines come before), then with smtp_test_mailserver_stored_is() */
void      smtp_test_assert_stored      (SmtpTestMailServer *server,
                                        GBytes             *stored,
                                        GBytes             *sent);

/* How many lines of @log start with @prefix */
guint     smtp_test_count_lines        (const char     *log,
                                        const char     *prefix);

/* smtp_test_print_log(); with SMTPCLIENT_INTEROP_TRANSCRIPTS=DIR also
 * saves the log as DIR/@file_name */
void      smtp_test_print_and_save_log (SmtpClientTask *task,
                                        const char     *file_name);

G_END_DECLS
