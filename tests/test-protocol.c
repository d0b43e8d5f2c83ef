/* test-protocol.c: the SMTP conversation: greeting, EHLO and HELO, the
 * exact reply codes, PIPELINING, refusals, timeouts, cancellation, the
 * outcome a task reports, debug output; against the in-process scripted
 * server (the faults no real server produces on demand) and Postfix's
 * smtp-sink
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * /smtpclient/protocol/audit/... are the failures an outside audit found
 * in the first engine, each kept as a regression test.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

#define GREETING_AND_EHLO \
  "S 220 scripted ESMTP\n" \
  "C EHLO localhost\n"

#define PLAIN_TRANSACTION \
  "C MAIL FROM:<sender@example.org>*\n" \
  "S 250 2.1.0 ok\n" \
  "C RCPT TO:<rcpt@example.org>\n" \
  "S 250 2.1.5 ok\n" \
  "C DATA\n" \
  "S 354 go ahead\n" \
  "CDATA\n"

typedef struct
{
  SmtpTestScriptServer *server;
  SmtpClientTask       *task;
  GError               *error;
  gboolean              succeeded;
  GBytes               *transcript;
  gboolean              script_ok;
} Fixture;

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_clear_error (&fixture->error);
  g_clear_object (&fixture->task);
  g_clear_pointer (&fixture->transcript, g_bytes_unref);
  g_clear_pointer (&fixture->server, smtp_test_script_server_free);
}

/* What the server received on its first connection, once every
 * connection has ended; whether the script played as written */
static void
collect (Fixture *fixture)
{
  guint n = smtp_test_script_server_get_n_connections (fixture->server);

  smtp_test_script_server_wait (fixture->server, n);
  fixture->transcript = n > 0
                        ? smtp_test_script_server_get_received (fixture->server, 0)
                        : g_bytes_new (NULL, 0);
  fixture->script_ok = smtp_test_script_server_get_failure (fixture->server) == NULL;
  if (!fixture->script_ok)
    g_test_message ("script: %s",
                    smtp_test_script_server_get_failure (fixture->server));
}

/* Start @script, send a default task (after @configure, if any) with
 * timeout @timeout, collect the outcome and what the server received. */
static void
run_script (Fixture    *fixture,
            const char *script,
            guint       timeout,
            void      (*configure) (SmtpClientTask *task))
{
  fixture->server = smtp_test_script_server_new (script);
  fixture->task = smtp_test_task_new (smtp_test_script_server_get_port (fixture->server),
                                      "Subject: scripted\n\nbody\n");
  g_object_set (fixture->task, "timeout", timeout, "transaction-log", TRUE,
                NULL);
  if (configure != NULL)
    configure (fixture->task);
  fixture->succeeded = smtp_test_run_task (fixture->task, &fixture->error);
  collect (fixture);
}

static gboolean
transcript_has (Fixture    *fixture,
                const char *needle)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (fixture->transcript, &size);

  return size > 0 && g_strstr_len (data, size, needle) != NULL;
}

static void
test_never_greets (Fixture       *fixture,
                   gconstpointer  data)
{
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("A server that never greets: TIMEOUT naming the seconds");

  run_script (fixture, "EXPECT-CLOSE\n", 1, NULL);
  g_assert_false (fixture->succeeded);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT);
  g_assert_nonnull (strstr (fixture->error->message, "1"));
  g_assert_cmpuint (g_bytes_get_size (fixture->transcript), ==, 0);
  /* Bounded: well before the 30 s default (not a timing assertion on the
   * 1 s, just that the configured timeout was used at all) */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 25 * G_USEC_PER_SEC);
}

static void
test_no_final_reply (Fixture       *fixture,
                     gconstpointer  data)
{
  g_test_summary ("No reply after the end of data: TIMEOUT, and the "
                  "connection is not used again (no QUIT)");

  run_script (fixture,
              GREETING_AND_EHLO
              "S 250 scripted\n"
              PLAIN_TRANSACTION
              "EXPECT-CLOSE\n", 1, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT);
  g_assert_false (transcript_has (fixture, "QUIT"));
}

static void
test_long_line (Fixture       *fixture,
                gconstpointer  data)
{
  g_test_summary ("A 1 MB reply line is a PROTOCOL error, read in bounded "
                  "memory");

  run_script (fixture, "SLONG 1048576 220 \n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_false (transcript_has (fixture, "EHLO"));
}

static void
test_1yz_reply (Fixture       *fixture,
                gconstpointer  data)
{
  g_test_summary ("A 1yz reply is a PROTOCOL error (the seed took it for "
                  "2yz)");

  run_script (fixture,
              GREETING_AND_EHLO
              "S 250 scripted\n"
              "C MAIL FROM:<sender@example.org>*\n"
              "S 150 fine, go on\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_false (transcript_has (fixture, "RCPT"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task), ==, 150);
}

static void
test_bytewise_replies (Fixture       *fixture,
                       gconstpointer  data)
{
  g_test_summary ("Replies that arrive one byte at a time");

  run_script (fixture,
              "SBYTES 220-slow\n"
              "SBYTES 220 server\n"
              "C EHLO localhost\n"
              "SBYTES 250-slow\n"
              "SBYTES 250 8BITMIME\n"
              "C MAIL FROM:<sender@example.org>\n"
              "SBYTES 250 ok\n"
              "C RCPT TO:<rcpt@example.org>\n"
              "SBYTES 250 ok\n"
              "C DATA\n"
              "SBYTES 354 go\n"
              "CDATA\n"
              "SBYTES 250 2.0.0 queued as SLOW1\n"
              "C QUIT\n"
              "S 221 bye\n", 10, NULL);
  g_assert_no_error (fixture->error);
  g_assert_true (fixture->succeeded);
  g_assert_true (fixture->script_ok);
  g_assert_cmpstr (smtp_client_task_get_reply (fixture->task), ==,
                   "250 2.0.0 queued as SLOW1");
}

static void
test_multiline_reply_kept (Fixture       *fixture,
                           gconstpointer  data)
{
  g_test_summary ("A multi-line reply is given as it was on the wire: its "
                  "lines joined with a newline (not escaped), control "
                  "characters and C1 controls inside a line escaped, "
                  "UTF-8 text kept");

  run_script (fixture,
              GREETING_AND_EHLO
              "S 250 scripted\n"
              "C MAIL FROM:<sender@example.org>\n"
              "S 250 2.1.0 ok\n"
              "C RCPT TO:<rcpt@example.org>\n"
              "S 250-2.1.5 first line\n"
              "S 250 2.1.5 second line\n"
              "C DATA\n"
              "S 354 go\n"
              "CDATA\n"
              "SRAW 250-2.0.0 queued\\x07 as\\r\\n"
              "250-caf\\xc3\\xa9 \\xc2\\x9b\\r\\n250\\r\\n\n"
              "C QUIT\n"
              "S 221 bye\n", 10, NULL);
  g_assert_no_error (fixture->error);
  g_assert_true (fixture->succeeded);
  g_assert_true (fixture->script_ok);
  g_assert_cmpstr (smtp_client_task_get_reply (fixture->task), ==,
                   "250-2.0.0 queued\\x07 as\n"
                   "250-caf\xc3\xa9 \\u009b\n"
                   "250");
  g_assert_cmpstr (smtp_client_task_get_recipient_reply (fixture->task,
                                                         "rcpt@example.org"),
                   ==, "250-2.1.5 first line\n250 2.1.5 second line");
}

static void
test_helo_fallback (Fixture       *fixture,
                    gconstpointer  data)
{
  run_script (fixture,
              GREETING_AND_EHLO
              "S 502 5.5.1 what is EHLO\n"
              "C HELO localhost\n"
              "S 250 hello\n"
              "C MAIL FROM:<sender@example.org>\n"
              "S 250 ok\n"
              "C RCPT TO:<rcpt@example.org>\n"
              "S 250 ok\n"
              "C DATA\n"
              "S 354 go\n"
              "CDATA\n"
              "S 250 queued as OLD1\n"
              "C QUIT\n"
              "S 221 bye\n", 5, NULL);
  g_assert_no_error (fixture->error);
  g_assert_true (fixture->script_ok);
  g_assert_true (transcript_has (fixture, "Subject: scripted\r\n\r\nbody\r\n.\r\n"));
}

static void
test_mismatched_continuation (Fixture       *fixture,
                              gconstpointer  data)
{
  run_script (fixture,
              GREETING_AND_EHLO
              "S 250-scripted\n"
              "S 251 PIPELINING\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_false (transcript_has (fixture, "MAIL"));
}

static void
test_transient_final_reply (Fixture       *fixture,
                            gconstpointer  data)
{
  g_test_summary ("A 4xx to the content: SERVER error, the code tells the "
                  "caller to retry later");

  run_script (fixture,
              GREETING_AND_EHLO
              "S 250 scripted\n"
              PLAIN_TRANSACTION
              "S 452 4.3.1 insufficient system storage\n"
              "C QUIT\n"
              "S 221 bye\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (fixture->error->message, "452 4.3.1"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task), ==, 452);
  g_assert_true (fixture->script_ok);
}

static void
test_greeting_refused (Fixture       *fixture,
                       gconstpointer  data)
{
  run_script (fixture,
              "S 554 5.3.2 go away\n"
              "C QUIT\n"
              "S 221 bye\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task), ==, 554);
  g_assert_false (transcript_has (fixture, "EHLO"));
}

static void
two_recipients (SmtpClientTask *task)
{
  const char *to[] = { "rcpt@example.org", "gone@example.org", NULL };

  g_object_set (task, "to", to, NULL);
}

static void
two_recipients_allowed (SmtpClientTask *task)
{
  two_recipients (task);
  g_object_set (task, "allow-refused-recipients", TRUE, NULL);
}

#define PIPELINED_GROUP \
  GREETING_AND_EHLO \
  "S 250-scripted\n" \
  "S 250 PIPELINING\n" \
  "C MAIL FROM:<sender@example.org>\n" \
  "C RCPT TO:<rcpt@example.org>\n" \
  "C RCPT TO:<gone@example.org>\n" \
  "C DATA\n" \
  "S 250 2.1.0 ok\n" \
  "S 250 2.1.5 ok\n" \
  "S 550 5.1.1 no such user\n"

static void
test_pipelined_refusal_strict (Fixture       *fixture,
                               gconstpointer  data)
{
  const char * const *refused;

  g_test_summary ("A RCPT refused inside a pipelined group while DATA was "
                  "accepted: the connection is dropped, nothing delivered");

  run_script (fixture, PIPELINED_GROUP "S 354 go ahead\n" "EXPECT-CLOSE\n",
              5, two_recipients);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (fixture->error->message, "gone@example.org"));
  g_assert_false (transcript_has (fixture, "Subject"));
  g_assert_false (transcript_has (fixture, "\r\n.\r\n"));
  refused = smtp_client_task_get_refused_recipients (fixture->task);
  g_assert_cmpstr (refused[0], ==, "gone@example.org");
  g_assert_null (refused[1]);
}

static void
test_pipelined_refusal_strict_rset (Fixture       *fixture,
                                    gconstpointer  data)
{
  g_test_summary ("A pipelined group refused as a whole: a one-shot task "
                  "says QUIT, not RSET");

  run_script (fixture,
              PIPELINED_GROUP
              "S 554 5.5.1 no valid recipients\n"
              "C QUIT\n"
              "S 221 bye\n", 5, two_recipients);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_true (fixture->script_ok);
  g_assert_false (transcript_has (fixture, "Subject"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task) / 100, ==, 5);
}

static void
test_pipelined_refusal_allowed (Fixture       *fixture,
                                gconstpointer  data)
{
  run_script (fixture,
              PIPELINED_GROUP
              "S 354 go ahead\n"
              "CDATA\n"
              "S 250 2.0.0 queued as PART1\n"
              "C QUIT\n"
              "S 221 bye\n", 5, two_recipients_allowed);
  g_assert_no_error (fixture->error);
  g_assert_true (fixture->succeeded);
  g_assert_true (fixture->script_ok);
  g_assert_true (transcript_has (fixture, "Subject: scripted"));
  g_assert_cmpstr (smtp_client_task_get_refused_recipients (fixture->task)[0],
                   ==, "gone@example.org");
}

static void
test_mail_refused (Fixture       *fixture,
                   gconstpointer  data)
{
  g_test_summary ("MAIL refused without pipelining: no RCPT is sent; a "
                  "one-shot task says QUIT, no RSET");

  run_script (fixture,
              GREETING_AND_EHLO
              "S 250 scripted\n"
              "C MAIL FROM:<sender@example.org>\n"
              "S 553 5.1.8 bad sender\n"
              "C QUIT\n"
              "S 221 bye\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_true (fixture->script_ok);
  g_assert_false (transcript_has (fixture, "RCPT"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task), ==, 553);
}

static void
with_dsn (SmtpClientTask *task)
{
  g_object_set (task,
                "dsn-notify", SMTP_CLIENT_DSN_NOTIFY_SUCCESS | SMTP_CLIENT_DSN_NOTIFY_FAILURE,
                "dsn-return", SMTP_CLIENT_DSN_RETURN_FULL,
                "dsn-envelope-id", "env+id=1",
                NULL);
}

static void
test_dsn_parameters (Fixture       *fixture,
                     gconstpointer  data)
{
  run_script (fixture,
              GREETING_AND_EHLO
              "S 250-scripted\n"
              "S 250 DSN\n"
              "C MAIL FROM:<sender@example.org> RET=FULL ENVID=env+2Bid+3D1\n"
              "S 250 ok\n"
              "C RCPT TO:<rcpt@example.org> NOTIFY=SUCCESS,FAILURE\n"
              "S 250 ok\n"
              "C DATA\n"
              "S 354 go\n"
              "CDATA\n"
              "S 250 ok\n"
              "C QUIT\n"
              "S 221 bye\n", 5, with_dsn);
  g_assert_no_error (fixture->error);
  g_assert_true (fixture->script_ok);
}

typedef struct
{
  GCancellable *cancellable;
  gboolean      done;
  GError       *error;
  guint         failed;
} CancelState;

static gboolean
cancel_now (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
on_cancel_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  CancelState *state = user_data;

  smtp_client_task_send_finish (SMTP_CLIENT_TASK (source), result,
                                &state->error);
  state->done = TRUE;
}

static void
on_cancel_failed (SmtpClientTask *task,
                  GVariant       *context,
                  const GError   *error,
                  const char     *log,
                  CancelState    *state)
{
  state->failed++;
}

static void
test_cancel (Fixture       *fixture,
             gconstpointer  data)
{
  CancelState state = { 0 };
  gint64 deadline = g_get_monotonic_time () + SMTP_TEST_WAIT_SECONDS * G_USEC_PER_SEC;

  g_test_summary ("Cancelling while waiting for the server closes the "
                  "connection and fails with G_IO_ERROR_CANCELLED, once");

  fixture->server = smtp_test_script_server_new (GREETING_AND_EHLO
                                                "EXPECT-CLOSE\n");
  fixture->task = smtp_test_task_new (smtp_test_script_server_get_port (fixture->server),
                                      NULL);
  state.cancellable = g_cancellable_new ();
  g_signal_connect (fixture->task, "failed", G_CALLBACK (on_cancel_failed),
                    &state);
  smtp_client_task_send_async (fixture->task, state.cancellable,
                               on_cancel_done, &state);
  g_timeout_add (300, cancel_now, state.cancellable);

  while (!state.done)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }

  g_assert_error (state.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (state.failed, ==, 1);
  collect (fixture);
  g_assert_false (transcript_has (fixture, "MAIL"));
  g_clear_error (&state.error);
  g_object_unref (state.cancellable);
}

/* Debug output: captured through the structured log writer */
static GString *debug_output;

static GLogWriterOutput
capture_writer (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         user_data)
{
  if (debug_output != NULL)
    {
      for (gsize i = 0; i < n_fields; i++)
        if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
          {
            g_string_append (debug_output, fields[i].value);
            g_string_append_c (debug_output, '\n');
          }
      if (level & G_LOG_LEVEL_DEBUG)
        return G_LOG_WRITER_HANDLED;
    }

  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
with_auth_and_debug (SmtpClientTask *task)
{
  g_object_set (task,
                "auth-user", "alice",
                "auth-password", "Tr0ub4dor",
                "auth-mechanism", "PLAIN",
                "allow-insecure-auth", TRUE,
                "debug", 1,
                "alias", "mytask",
                NULL);
}

static void
test_debug_output (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autofree char *output = NULL;

  g_test_summary ("debug > 0 traces the protocol with g_debug, tagged with "
                  "the alias, credentials redacted");

  g_log_set_debug_enabled (TRUE);
  debug_output = g_string_new (NULL);
  run_script (fixture,
              GREETING_AND_EHLO
              "S 250-scripted\n"
              "S 250 AUTH PLAIN\n"
              "C AUTH PLAIN AGFsaWNlAFRyMHViNGRvcg==\n"
              "S 235 2.7.0 ok\n"
              PLAIN_TRANSACTION
              "S 250 ok\n"
              "C QUIT\n"
              "S 221 bye\n", 5, with_auth_and_debug);
  output = g_string_free (g_steal_pointer (&debug_output), FALSE);
  g_log_set_debug_enabled (FALSE);

  g_assert_no_error (fixture->error);
  g_assert_true (fixture->script_ok);
  g_assert_nonnull (strstr (output, "[mytask] -> EHLO localhost"));
  g_assert_nonnull (strstr (output, "[mytask] -> AUTH PLAIN <redacted>"));
  g_assert_null (strstr (output, "AGFsaWNl"));
  g_assert_null (strstr (output, "Tr0ub4dor"));
  g_assert_null (strstr (smtp_client_task_get_transaction_log (fixture->task),
                         "AGFsaWNl"));
}


static void
test_debug_through_session (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(SmtpClientTask) traced = NULL;
  g_autoptr(SmtpClientTask) quiet = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;
  guint port;

  g_test_summary ("Audit 7: a task's debug and alias apply to its own "
                  "transaction when it goes through a session (and to the "
                  "set-up of the connection it opened), not to the others'");

  g_log_set_debug_enabled (TRUE);
  debug_output = g_string_new (NULL);
  fixture->server = smtp_test_script_server_new ("S 220 scripted ESMTP\n"
                                                 "SERVE PIPELINING\n");
  port = smtp_test_script_server_get_port (fixture->server);
  session = g_object_new (SMTP_CLIENT_TYPE_SESSION, "server", "127.0.0.1",
                          "port", port, NULL);

  traced = smtp_test_task_new (port, NULL);
  g_object_set (traced, "session", session, "debug", 1, "alias", "traced",
                NULL);
  quiet = smtp_test_task_new (port, NULL);
  g_object_set (quiet, "session", session, "debug", 0, "alias", "quiet",
                NULL);
  g_assert_true (smtp_test_run_task (traced, &error));
  g_assert_true (smtp_test_run_task (quiet, &error));
  g_assert_no_error (error);
  smtp_test_close_session (session);
  output = g_string_free (g_steal_pointer (&debug_output), FALSE);
  g_log_set_debug_enabled (FALSE);

  g_assert_nonnull (strstr (output, "[traced] -> EHLO localhost"));
  g_assert_nonnull (strstr (output, "[traced] -> MAIL FROM:<sender@example.org>"));
  g_assert_nonnull (strstr (output, "[traced] <- 250 2.0.0 queued"));
  g_assert_null (strstr (output, "[quiet]"));
}

/* ---------------------------------------------------------------------- */
/* Against Postfix's smtp-sink */

static SmtpClientTask *
new_logged_task (SmtpTestServer *server,
                 const char     *body)
{
  SmtpClientTask *task = smtp_test_task_new (smtp_test_server_get_port (server),
                                             body);

  g_object_set (task, "transaction-log", TRUE, NULL);
  return task;
}

/* Position of @needle in @haystack, failing the test if absent */
static gsize
position_of (const char *haystack,
             const char *needle)
{
  const char *found = strstr (haystack, needle);

  if (found == NULL)
    g_error ("“%s” not in:\n%s", needle, haystack);
  return found - haystack;
}

static void
test_pipelined_delivery (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "a@example.org", "b@example.org", NULL };
  const char *log;

  g_test_summary ("With PIPELINING, MAIL, every RCPT and DATA go out before "
                  "their replies are read");

  task = new_logged_task (server, "Subject: sink\n\nhello\n");
  g_object_set (task, "to", to, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);

  log = smtp_client_task_get_transaction_log (task);
  g_assert_cmpuint (position_of (log, "-> DATA"), <,
                    position_of (log, "<- 250 2.1.0"));
  g_assert_cmpuint (position_of (log, "-> RCPT TO:<b@example.org>"), <,
                    position_of (log, "<- 250 2.1.5"));
  g_assert_cmpuint (position_of (log, "<- 354"), <,
                    position_of (log, "-> [message: 21 bytes]"));
}

static void
test_rcpt_refused (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-f", "RCPT", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *refused;
  const char *log;

  task = new_logged_task (server, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (error->message, "rcpt@example.org"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (task) / 100, ==, 5);

  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_nonnull (refused);
  g_assert_cmpstr (refused[0], ==, "rcpt@example.org");
  g_assert_null (refused[1]);

  /* Nothing delivered; a one-shot task says QUIT, no RSET first */
  log = smtp_client_task_get_transaction_log (task);
  g_assert_null (strstr (log, "-> RSET"));
  g_assert_nonnull (strstr (log, "-> QUIT"));
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
}

static void
test_421_after_mail (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-Q", "MAIL", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  task = new_logged_task (server, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 421);
  g_assert_nonnull (strstr (error->message, "421"));
  g_assert_true (g_str_has_prefix (smtp_client_task_get_reply (task), "421"));
}

static void
test_disconnect (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-q", "DATA", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("The server hangs up without a reply: a GIO error");

  task = new_logged_task (server, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task),
                         "[message:"));
}

static void
test_abort_during_data (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-A", "1", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *body = NULL;
  const gsize size = 24 * 1024 * 1024;

  g_test_summary ("A 550 while the content is still uploading stops the "
                  "upload and fails the task with that reply");

  /* Big enough not to fit in the socket buffers within the second the
   * sink waits before its early reply */
  body = g_malloc (size + 1);
  for (gsize i = 0; i < size; i += 64)
    {
      memset (body + i, 'a' + (i / 64) % 26, 63);
      body[i + 63] = '\n';
    }
  body[size] = '\0';

  task = new_logged_task (server, body);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 550);
  /* The upload did not complete */
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task),
                         "[message:"));
}

static void
test_no_esmtp (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_sink ("-e", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *log;

  task = new_logged_task (server, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  log = smtp_client_task_get_transaction_log (task);
  g_assert_cmpuint (position_of (log, "-> EHLO localhost"), <,
                    position_of (log, "-> HELO localhost"));
  /* No ESMTP parameters on MAIL after HELO */
  g_assert_nonnull (strstr (log, "-> MAIL FROM:<sender@example.org>\n"));
}

static void
test_refused_connection (void)
{
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Nobody listens: the GIO error as GIO reports it");

  task = smtp_test_task_new (smtp_test_free_port (), NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 0);
  g_assert_null (smtp_client_task_get_reply (task));
}

/* ---------------------------------------------------------------------- */
/* Exact reply codes */

typedef struct
{
  const char *reply;    /* to EHLO, or to HELO after a 502 to EHLO */
  gboolean    to_helo;
} OddCase;

static const OddCase odd_cases[] = {
  { "220 hello?", FALSE }, { "221 bye?", FALSE },
  { "220 hello?", TRUE }, { "221 bye?", TRUE },
};

static const char * const odd_names[] = {
  "ehlo-220", "ehlo-221", "helo-220", "helo-221",
};

static void
test_odd_success_code (Fixture       *fixture,
                       gconstpointer  data)
{
  const OddCase *c = data;
  g_autofree char *script = NULL;
  g_auto(GStrv) commands = NULL;
  guint code = (guint) g_ascii_strtoull (c->reply, NULL, 10);

  g_test_summary ("Audit 6: a 2yz that is not the one the command expects "
                  "(220 or 221 to EHLO or HELO) is a PROTOCOL error; after "
                  "an unasked 221 nothing but QUIT");

  script = g_strconcat (GREETING_AND_EHLO,
                        c->to_helo ? "S 502 5.5.2 no EHLO\nC HELO localhost\n"
                                   : "",
                        "S ", c->reply, "\n"
                        "EXPECT-CLOSE\n", NULL);
  run_script (fixture, script, 5, NULL);

  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task), ==, code);
  g_assert_cmpint (smtp_client_task_get_delivery_state (fixture->task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
  g_assert_true (fixture->script_ok);

  commands = smtp_test_script_server_get_commands (fixture->server, 0);
  g_assert_false (transcript_has (fixture, "MAIL"));
  if (code == 221)
    g_assert_cmpstr (commands[g_strv_length (commands) - 1], ==, "QUIT");
  else
    g_assert_false (transcript_has (fixture, "QUIT"));
}

/* ---------------------------------------------------------------------- */
/* The outcome: the first decisive event wins */

static void
test_mail_refused_then_closed (Fixture       *fixture,
                               gconstpointer  data)
{
  g_test_summary ("Audit 5: a server that refuses MAIL and hangs up: the "
                  "refusal, not the hang-up, is the outcome");

  run_script (fixture,
              GREETING_AND_EHLO
              "S 250 scripted\n"
              "C MAIL FROM:<sender@example.org>\n"
              "S 553 5.1.8 bad sender\n"
              "CLOSE\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (fixture->error->message, "553 5.1.8 bad sender"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (fixture->task), ==, 553);
  g_assert_cmpstr (smtp_client_task_get_reply (fixture->task), ==,
                   "553 5.1.8 bad sender");
  g_assert_cmpint (smtp_client_task_get_delivery_state (fixture->task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
}

static void
test_refused_recipient_then_421 (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(SmtpTestDelivery) delivery = NULL;
  const char *to[] = { "gone@example.org", NULL };
  guint port;

  g_test_summary ("Audit 5: a refused recipient, then a 421 to the RSET "
                  "that follows: the task fails with the refusal, naming "
                  "the address");

  server = smtp_test_script_server_new (GREETING_AND_EHLO
                                        "S 250 scripted\n"
                                        "C MAIL FROM:<sender@example.org>\n"
                                        "S 250 2.1.0 ok\n"
                                        "C RCPT TO:<gone@example.org>\n"
                                        "S 550 5.1.1 no such user\n"
                                        "C RSET\n"
                                        "S 421 4.3.2 shutting down\n"
                                        "EXPECT-CLOSE\n");
  port = smtp_test_script_server_get_port (server);
  session = g_object_new (SMTP_CLIENT_TYPE_SESSION, "server", "127.0.0.1",
                          "port", port, "max-retries", 0, NULL);
  task = smtp_test_task_new (port, NULL);
  g_object_set (task, "session", session, "to", to, NULL);
  delivery = smtp_test_delivery_start (task, NULL);
  smtp_test_delivery_wait (&delivery, 1);
  smtp_test_script_server_wait (server, 1);

  g_assert_error (delivery->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (delivery->error->message, "gone@example.org"));
  g_assert_nonnull (strstr (delivery->error->message, "550 5.1.1"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 550);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
  g_assert_cmpuint (delivery->failed, ==, 1);
  g_assert_null (smtp_test_script_server_get_failure (server));
}

static gboolean
cancel_when_quitting (gpointer user_data)
{
  SmtpClientTask *task = user_data;
  GCancellable *cancellable = g_object_get_data (G_OBJECT (task),
                                                 "cancellable");
  const char *log = smtp_client_task_get_transaction_log (task);

  /* The QUIT is out: cancel now */
  if (log == NULL || strstr (log, "-> QUIT") == NULL)
    return G_SOURCE_CONTINUE;

  g_cancellable_cancel (cancellable);
  return G_SOURCE_REMOVE;
}

static void
test_cancel_after_delivery (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(SmtpTestDelivery) delivery = NULL;

  g_test_summary ("Audit 4: cancelled during the QUIT that follows the 250 "
                  "to the message: succeeded, send_finish() TRUE, "
                  "ACCEPTED, and no wait for the slow goodbye");

  server = smtp_test_script_server_new (GREETING_AND_EHLO
                                        "S 250 scripted\n"
                                        PLAIN_TRANSACTION
                                        "S 250 2.0.0 queued as KEPT\n"
                                        "C QUIT\n"
                                        "EXPECT-CLOSE\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_object_set (task, "transaction-log", TRUE, NULL);
  g_object_set_data (G_OBJECT (task), "cancellable", cancellable);

  delivery = smtp_test_delivery_start (task, cancellable);
  g_timeout_add (5, cancel_when_quitting, task);
  smtp_test_delivery_wait (&delivery, 1);
  smtp_test_script_server_wait (server, 1);

  g_assert_no_error (delivery->error);
  g_assert_true (delivery->result);
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  g_assert_cmpuint (delivery->succeeded, ==, 1);
  g_assert_cmpuint (delivery->failed, ==, 0);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
  g_assert_cmpstr (smtp_client_task_get_reply (task), ==,
                   "250 2.0.0 queued as KEPT");
  /* It did not wait for the 10 s timeout of the silent QUIT */
  g_assert_cmpint (delivery->ended - delivery->started, <, 8 * G_USEC_PER_SEC);
  smtp_test_print_log (task);
}

/* ---------------------------------------------------------------------- */
/* Bounds a broken server cannot push past */

static void
with_plain_auth (SmtpClientTask *task)
{
  g_object_set (task, "auth-user", "alice", "auth-password", "secret",
                "auth-mechanism", "PLAIN", "allow-insecure-auth", TRUE,
                NULL);
}

static void
with_login_auth (SmtpClientTask *task)
{
  with_plain_auth (task);
  g_object_set (task, "auth-mechanism", "LOGIN", NULL);
}

static void
test_auth_endless_challenges (Fixture       *fixture,
                              gconstpointer  data)
{
  gboolean login = GPOINTER_TO_INT (data);
  GString *script = g_string_new (GREETING_AND_EHLO
                                  "S 250-scripted\n"
                                  "S 250 AUTH PLAIN LOGIN\n");
  g_auto(GStrv) commands = NULL;

  g_test_summary ("Audit 3: a server that answers every AUTH line with "
                  "“334 ”: the exchange ends after a bounded number of "
                  "steps, and after the client's “*” no 334 is taken");

  /* Far more challenges than any mechanism has steps */
  for (guint i = 0; i < 40; i++)
    g_string_append (script, "S 334 \n");
  g_string_append (script, "EXPECT-CLOSE\n");
  run_script (fixture, script->str, 5, login ? with_login_auth
                                             : with_plain_auth);
  g_string_free (script, TRUE);

  g_assert_false (fixture->succeeded);
  g_assert_true (g_error_matches (fixture->error, SMTP_CLIENT_ERROR,
                                  SMTP_CLIENT_ERROR_PROTOCOL) ||
                 g_error_matches (fixture->error, SMTP_CLIENT_ERROR,
                                  SMTP_CLIENT_ERROR_AUTH_FAILED));
  commands = smtp_test_script_server_get_commands (fixture->server, 0);
  /* EHLO, AUTH, a few answers, the cancelling "*" */
  g_assert_cmpuint (g_strv_length (commands), <=, 6);
  g_assert_false (transcript_has (fixture, "MAIL"));
}

static void
test_extra_line_after_ehlo (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery *deliveries[3];
  guint port;

  g_test_summary ("Audit 2: a server that sends a line more than asked "
                  "after its EHLO reply, on every connection: each task "
                  "fails with PROTOCOL after one connection of its own, "
                  "and the session does not reconnect for free");

  server = smtp_test_script_server_new ("S 220 scripted ESMTP\n"
                                        "C EHLO localhost\n"
                                        "SRAW 250 scripted\\r\\n250 one more\\r\\n\n"
                                        "EXPECT-CLOSE\n");
  port = smtp_test_script_server_get_port (server);
  session = g_object_new (SMTP_CLIENT_TYPE_SESSION, "server", "127.0.0.1",
                          "port", port, "retry-delay", 10, NULL);

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(SmtpClientTask) task = smtp_test_task_new (port, NULL);

      g_object_set (task, "session", session, "transaction-log", TRUE,
                    NULL);
      deliveries[i] = smtp_test_delivery_start (task, NULL);
    }
  smtp_test_delivery_wait (deliveries, 3);
  smtp_test_script_server_wait (server, smtp_test_script_server_get_n_connections (server));

  for (guint i = 0; i < 3; i++)
    {
      g_assert_error (deliveries[i]->error, SMTP_CLIENT_ERROR,
                      SMTP_CLIENT_ERROR_PROTOCOL);
      g_assert_cmpuint (deliveries[i]->failed, ==, 1);
      g_assert_cmpuint (smtp_client_task_get_attempts (deliveries[i]->task), ==, 1);
      smtp_test_print_log (deliveries[i]->task);
      smtp_test_delivery_free (deliveries[i]);
    }
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), ==, 3);
}

static void
test_close_after_ehlo (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery *deliveries[2];
  guint port;

  g_test_summary ("Audit 2: a server that closes right after its EHLO "
                  "reply: each task is tried max-retries + 1 times, then "
                  "fails; the connections are bounded");

  server = smtp_test_script_server_new ("S 220 scripted ESMTP\n"
                                        "C EHLO localhost\n"
                                        "S 250 scripted\n"
                                        "CLOSE\n");
  port = smtp_test_script_server_get_port (server);
  session = g_object_new (SMTP_CLIENT_TYPE_SESSION, "server", "127.0.0.1",
                          "port", port, "max-retries", 2, "retry-delay", 10,
                          NULL);

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SmtpClientTask) task = smtp_test_task_new (port, NULL);

      g_object_set (task, "session", session, "transaction-log", TRUE, NULL);
      deliveries[i] = smtp_test_delivery_start (task, NULL);
    }
  smtp_test_delivery_wait (deliveries, 2);
  smtp_test_script_server_wait (server, smtp_test_script_server_get_n_connections (server));

  for (guint i = 0; i < 2; i++)
    {
      SmtpClientTask *task = deliveries[i]->task;

      g_assert_nonnull (deliveries[i]->error);
      g_assert_true (deliveries[i]->error->domain == G_IO_ERROR);
      g_assert_cmpuint (deliveries[i]->failed, ==, 1);
      g_assert_cmpuint (smtp_client_task_get_attempts (task), ==, 3);
      g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                       SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
      g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (task),
                                "-- retry 2: "));
      smtp_test_print_log (task);
      smtp_test_delivery_free (deliveries[i]);
    }
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), ==, 6);
}

/* ---------------------------------------------------------------------- */
/* A certificate check that outlives the wait for it */

/* The application's certificate check takes its time (a dialog, a
 * nested main loop) */
static gboolean
on_accept_certificate_slowly (SmtpClientTask       *task,
                              GTlsCertificate      *certificate,
                              GTlsCertificateFlags  errors,
                              gpointer              user_data)
{
  (*(guint *) user_data)++;
  smtp_test_iterate_for (2000 * smtp_test_slowdown ());
  return FALSE;
}

static void
test_certificate_check_outlives_timeout (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GTlsCertificate) certificate = NULL;
  guint asked = 0;

  g_test_summary ("The application's accept-certificate handler runs a "
                  "main loop for longer than the timeout: the timeout ends "
                  "the connection meanwhile, and nothing of it (the "
                  "session's slot it was asked through) is used after the "
                  "handler returns; the task fails once, with TIMEOUT");

  /* The server's certificate made now, not while the client's timer runs
   * (the first test of a program to use it makes it) */
  g_clear_object (&certificate);
  certificate = smtp_test_cert_load ("server");

  server = smtp_test_script_server_new ("S 220 scripted ESMTP\n"
                                        "C EHLO *\n"
                                        "S 250-scripted\n"
                                        "S 250 STARTTLS\n"
                                        "C STARTTLS\n"
                                        "S 220 2.0.0 ready\n"
                                        "STARTTLS\n");
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  /* No CA given: the test certificate is not trusted, so it is asked.
   * The handshake must end within the timeout, the handler outlast it:
   * both longer under valgrind */
  g_object_set (task, "security", SMTP_CLIENT_SECURITY_STARTTLS,
                "timeout", smtp_test_slowdown (), NULL);
  g_signal_connect (task, "accept-certificate",
                    G_CALLBACK (on_accept_certificate_slowly), &asked);

  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT);
  g_assert_cmpuint (asked, ==, 1);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
}

/* ---------------------------------------------------------------------- */
/* What the server says, shown safely */

static void
test_control_characters (Fixture       *fixture,
                         gconstpointer  data)
{
  const char *log;

  g_test_summary ("Audit 9: control characters a server sends (ESC, BEL, a "
                  "lone CR) are escaped in the log and in error messages");

  run_script (fixture,
              "SRAW 220 evil\\x1b[31m ESMTP\\x07\\r\\n\n"
              "C EHLO localhost\n"
              "S 250 scripted\n"
              "C MAIL FROM:<sender@example.org>\n"
              "SRAW 550 5.7.1 no\\x1b]0;pwned\\x07 way\\rback\\r\\n\n"
              "C QUIT\n"
              "S 221 bye\n", 5, NULL);
  g_assert_error (fixture->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);

  log = smtp_client_task_get_transaction_log (fixture->task);
  g_assert_null (strchr (log, '\x1b'));
  g_assert_null (strchr (log, '\a'));
  g_assert_null (strchr (log, '\r'));
  g_assert_nonnull (strstr (log, "<- 220 evil\\x1b[31m ESMTP\\x07"));
  g_assert_nonnull (strstr (log, "\\x1b]0;pwned\\x07 way\\x0dback"));

  g_assert_null (strchr (fixture->error->message, '\x1b'));
  g_assert_null (strchr (fixture->error->message, '\a'));
  g_assert_nonnull (strstr (fixture->error->message, "no\\x1b]0;pwned\\x07"));
  g_assert_null (strchr (smtp_client_task_get_reply (fixture->task), '\x1b'));
}

int
main (int    argc,
      char **argv)
{
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/smtpclient/protocol/" path, Fixture, NULL, NULL, func, \
              fixture_teardown)
#define ADD_DATA(path, data, func) \
  g_test_add ("/smtpclient/protocol/" path, Fixture, data, NULL, func, \
              fixture_teardown)

  /* Against the scripted server */
  ADD ("greeting/never", test_never_greets);
  ADD ("greeting/refused", test_greeting_refused);
  ADD ("reply/long-line", test_long_line);
  ADD ("reply/1yz", test_1yz_reply);
  ADD ("reply/bytewise", test_bytewise_replies);
  ADD ("reply/multiline-kept", test_multiline_reply_kept);
  ADD ("reply/mismatched-continuation", test_mismatched_continuation);
  ADD ("helo-fallback", test_helo_fallback);
  ADD ("end-of-data/no-reply", test_no_final_reply);
  ADD ("end-of-data/transient", test_transient_final_reply);
  ADD ("pipelined-refusal/strict", test_pipelined_refusal_strict);
  ADD ("pipelined-refusal/strict-rset", test_pipelined_refusal_strict_rset);
  ADD ("pipelined-refusal/allowed", test_pipelined_refusal_allowed);
  ADD ("mail-refused", test_mail_refused);
  ADD ("dsn-parameters", test_dsn_parameters);
  ADD ("cancel", test_cancel);
  ADD ("debug/output", test_debug_output);
  ADD ("debug/through-session", test_debug_through_session);

  /* Against Postfix's smtp-sink */
  g_test_add_func ("/smtpclient/protocol/sink/pipelined-delivery",
                   test_pipelined_delivery);
  g_test_add_func ("/smtpclient/protocol/sink/rcpt-refused", test_rcpt_refused);
  g_test_add_func ("/smtpclient/protocol/sink/421-after-mail",
                   test_421_after_mail);
  g_test_add_func ("/smtpclient/protocol/sink/disconnect", test_disconnect);
  g_test_add_func ("/smtpclient/protocol/sink/abort-during-data",
                   test_abort_during_data);
  g_test_add_func ("/smtpclient/protocol/sink/no-esmtp", test_no_esmtp);
  g_test_add_func ("/smtpclient/protocol/refused-connection",
                   test_refused_connection);

  /* The failures the audit found in the first engine */
  for (gsize i = 0; i < G_N_ELEMENTS (odd_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/protocol/audit/"
                                           "odd-success-code/", odd_names[i],
                                           NULL);

      g_test_add (path, Fixture, &odd_cases[i], NULL, test_odd_success_code,
                  fixture_teardown);
    }
  ADD ("audit/mail-refused-then-closed", test_mail_refused_then_closed);
  g_test_add_func ("/smtpclient/protocol/audit/refused-recipient-then-421",
                   test_refused_recipient_then_421);
  g_test_add_func ("/smtpclient/protocol/audit/cancel-after-delivery",
                   test_cancel_after_delivery);
  ADD_DATA ("audit/auth-endless-334/plain", GINT_TO_POINTER (FALSE),
            test_auth_endless_challenges);
  ADD_DATA ("audit/auth-endless-334/login", GINT_TO_POINTER (TRUE),
            test_auth_endless_challenges);
  g_test_add_func ("/smtpclient/protocol/audit/extra-line-after-ehlo",
                   test_extra_line_after_ehlo);
  g_test_add_func ("/smtpclient/protocol/audit/close-after-ehlo",
                   test_close_after_ehlo);
  ADD ("audit/control-characters", test_control_characters);
  g_test_add_func ("/smtpclient/protocol/tls/certificate-check-outlives-timeout",
                   test_certificate_check_outlives_timeout);

  return g_test_run ();
}
