/* test-task-scripted.c: faults no real server produces on demand, from
 * tests/servers/scripted-server.py
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

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
  SmtpTestServer *server;
  SmtpClientTask *task;
  GError         *error;
  gboolean        succeeded;
  GBytes         *transcript;
  gboolean        script_ok;
} Fixture;

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  g_clear_error (&fixture->error);
  g_clear_object (&fixture->task);
  g_clear_pointer (&fixture->transcript, g_bytes_unref);
  g_clear_pointer (&fixture->server, smtp_test_server_free);
}

/* Start @script, send a default task (after @configure, if any) with
 * timeout @timeout, collect the outcome and what the server received. */
static void
run_script (Fixture    *fixture,
            const char *script,
            guint       timeout,
            void      (*configure) (SmtpClientTask *task))
{
  fixture->server = smtp_test_server_start_script (script);
  fixture->task = smtp_test_task_new (smtp_test_server_get_port (fixture->server),
                                      "Subject: scripted\n\nbody\n");
  g_object_set (fixture->task, "timeout", timeout, "transaction-log", TRUE,
                NULL);
  if (configure != NULL)
    configure (fixture->task);
  fixture->succeeded = smtp_test_run_task (fixture->task, &fixture->error);
  fixture->transcript = smtp_test_server_get_transcript (fixture->server,
                                                         &fixture->script_ok);
}

static gboolean
transcript_has (Fixture    *fixture,
                const char *needle)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (fixture->transcript, &size);

  return g_strstr_len (data, size, needle) != NULL;
}

static void
test_never_greets (Fixture       *fixture,
                   gconstpointer  data)
{
  gint64 start = g_get_monotonic_time ();

  g_test_summary ("A server that never greets: TIMEOUT naming the seconds");

  run_script (fixture, "SLEEP 4\n", 1, NULL);
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
              "SLEEP 4\n"
              "S 250 too late\n", 1, NULL);
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

  fixture->server = smtp_test_server_start_script (GREETING_AND_EHLO
                                                   "SLEEP 5\n");
  fixture->task = smtp_test_task_new (smtp_test_server_get_port (fixture->server),
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
  fixture->transcript = smtp_test_server_get_transcript (fixture->server,
                                                         &fixture->script_ok);
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

  g_assert_no_error (fixture->error);
  g_assert_true (fixture->script_ok);
  g_assert_nonnull (strstr (output, "[mytask] -> EHLO localhost"));
  g_assert_nonnull (strstr (output, "[mytask] -> AUTH PLAIN <redacted>"));
  g_assert_null (strstr (output, "AGFsaWNl"));
  g_assert_null (strstr (output, "Tr0ub4dor"));
  g_assert_null (strstr (smtp_client_task_get_transaction_log (fixture->task),
                         "AGFsaWNl"));
}

int
main (int    argc,
      char **argv)
{
  g_log_set_writer_func (capture_writer, NULL, NULL);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/smtpclient/scripted/" path, Fixture, NULL, NULL, func, \
              fixture_teardown)

  ADD ("never-greets", test_never_greets);
  ADD ("no-final-reply", test_no_final_reply);
  ADD ("long-line", test_long_line);
  ADD ("1yz-reply", test_1yz_reply);
  ADD ("bytewise-replies", test_bytewise_replies);
  ADD ("helo-fallback", test_helo_fallback);
  ADD ("mismatched-continuation", test_mismatched_continuation);
  ADD ("transient-final-reply", test_transient_final_reply);
  ADD ("greeting-refused", test_greeting_refused);
  ADD ("pipelined-refusal/strict", test_pipelined_refusal_strict);
  ADD ("pipelined-refusal/strict-rset", test_pipelined_refusal_strict_rset);
  ADD ("pipelined-refusal/allowed", test_pipelined_refusal_allowed);
  ADD ("mail-refused", test_mail_refused);
  ADD ("dsn-parameters", test_dsn_parameters);
  ADD ("cancel", test_cancel);
  ADD ("debug-output", test_debug_output);

  return g_test_run ();
}
