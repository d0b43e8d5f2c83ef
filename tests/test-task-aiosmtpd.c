/* test-task-aiosmtpd.c: SmtpClientTask against a real aiosmtpd server
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "smtpclient-test-utils.h"

static SmtpTestMessage *
only_message (SmtpTestServer *server)
{
  GPtrArray *messages = smtp_test_server_get_messages (server);

  g_assert_cmpuint (messages->len, ==, 1);
  return g_ptr_array_index (messages, 0);
}

static void
assert_content (SmtpTestMessage *message,
                const char      *expected)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (message->content, &size);

  g_assert_cmpmem (data, size, expected, strlen (expected));
}

static gboolean
strv_has (GStrv       strv,
          const char *item)
{
  return strv != NULL && g_strv_contains ((const char * const *) strv, item);
}

static gboolean
strv_has_prefix (GStrv       strv,
                 const char *prefix)
{
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    if (g_str_has_prefix (strv[i], prefix))
      return TRUE;

  return FALSE;
}

/* Every log line is "<- ", "-> " or a "-- " note */
static void
assert_log_format (const char *log)
{
  g_auto(GStrv) lines = NULL;

  g_assert_nonnull (log);
  lines = g_strsplit (log, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), >, 4);
  for (guint i = 0; lines[i] != NULL; i++)
    g_assert_true (g_str_has_prefix (lines[i], "<- ") ||
                   g_str_has_prefix (lines[i], "-> ") ||
                   g_str_has_prefix (lines[i], "-- "));
}

static void
test_deliver_exact (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  SmtpTestMessage *message;
  const char *log;

  g_test_summary ("Bare LF, bare CR, dot lines and a missing final newline "
                  "arrive as CRLF, unstuffed, with a final CRLF");

  task = smtp_test_task_new (smtp_test_server_get_port (server),
                             "Subject: exact\n\nline one\r\n.dot\n..two dots"
                             "\rcr alone\n.\nlast");
  g_object_set (task, "transaction-log", TRUE, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = only_message (server);
  assert_content (message,
                  "Subject: exact\r\n\r\nline one\r\n.dot\r\n..two dots\r\n"
                  "cr alone\r\n.\r\nlast\r\n");
  g_assert_cmpstr (message->mail_from, ==, "sender@example.org");
  g_assert_true (strv_has (message->rcpt_tos, "rcpt@example.org"));
  g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 1);

  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);
  g_assert_true (g_str_has_prefix (smtp_client_task_get_reply (task), "250"));

  log = smtp_client_task_get_transaction_log (task);
  assert_log_format (log);
  g_assert_nonnull (strstr (log, "-> MAIL FROM:<sender@example.org>"));
  g_assert_nonnull (strstr (log, "-> RCPT TO:<rcpt@example.org>"));
  g_assert_nonnull (strstr (log, "-> [message: "));
  g_assert_null (strstr (log, "line one"));
  g_assert_nonnull (strstr (log, "<- 221"));
}

static void
test_several_recipients (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "a@example.org", "b@example.net", "c@example.com", NULL };
  SmtpTestMessage *message;

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "to", to, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = only_message (server);
  g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 3);
  for (guint i = 0; to[i] != NULL; i++)
    g_assert_true (strv_has (message->rcpt_tos, to[i]));
  g_assert_nonnull (smtp_client_task_get_refused_recipients (task));
  g_assert_null (smtp_client_task_get_refused_recipients (task)[0]);
}

static void
test_my_hostname (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "my-hostname", "client.example.org", NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_cmpstr (only_message (server)->helo, ==, "client.example.org");
}

typedef struct
{
  GVariant *context;
  char     *log;
  guint     succeeded;
  guint     failed;
  gboolean  callback_called;
  gboolean  result;
  GError   *error;
  guint64   last_sent;
  guint64   last_total;
  guint     progress_count;
} Outcome;

static void
outcome_clear (Outcome *outcome)
{
  g_clear_pointer (&outcome->context, g_variant_unref);
  g_clear_pointer (&outcome->log, g_free);
  g_clear_error (&outcome->error);
}

static void
on_succeeded (SmtpClientTask *task,
              GVariant       *context,
              const char     *log,
              Outcome        *outcome)
{
  outcome->succeeded++;
  if (context != NULL)
    outcome->context = g_variant_ref (context);
  outcome->log = g_strdup (log);
}

static void
on_failed (SmtpClientTask *task,
           GVariant       *context,
           const GError   *error,
           const char     *log,
           Outcome        *outcome)
{
  outcome->failed++;
  if (context != NULL)
    outcome->context = g_variant_ref (context);
}

static void
on_progress (SmtpClientTask *task,
             guint64         sent,
             guint64         total,
             Outcome        *outcome)
{
  g_assert_cmpuint (sent, >=, outcome->last_sent);
  outcome->last_sent = sent;
  outcome->last_total = total;
  outcome->progress_count++;
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Outcome *outcome = user_data;

  /* The signal comes first, then the callback */
  g_assert_cmpuint (outcome->succeeded + outcome->failed, ==, 1);
  outcome->callback_called = TRUE;
  outcome->result = smtp_client_task_send_finish (SMTP_CLIENT_TASK (source),
                                                  result, &outcome->error);
}

static void
wait_for (gboolean *flag)
{
  gint64 deadline = g_get_monotonic_time () +
                    SMTP_TEST_WAIT_SECONDS * G_USEC_PER_SEC;

  while (!*flag)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static void
test_context_and_async (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  Outcome outcome = { 0 };
  GVariant *context = g_variant_new ("(si)", "order", 42);
  const char *name = NULL;
  gint32 number = 0;

  g_test_summary ("send_async: the signal carries the context, then the "
                  "callback's send_finish returns TRUE; progress ends at the "
                  "total");

  task = smtp_test_task_new (smtp_test_server_get_port (server),
                             "Subject: ctx\r\n\r\nbody\r\n");
  g_object_set (task, "context", context, "transaction-log", TRUE, NULL);
  g_signal_connect (task, "succeeded", G_CALLBACK (on_succeeded), &outcome);
  g_signal_connect (task, "failed", G_CALLBACK (on_failed), &outcome);
  g_signal_connect (task, "progress", G_CALLBACK (on_progress), &outcome);
  smtp_client_task_send_async (task, NULL, on_sent, &outcome);

  /* Nothing happens before the main loop runs */
  g_assert_cmpuint (outcome.succeeded + outcome.failed, ==, 0);
  wait_for (&outcome.callback_called);

  g_assert_no_error (outcome.error);
  g_assert_true (outcome.result);
  g_assert_cmpuint (outcome.succeeded, ==, 1);
  g_assert_cmpuint (outcome.failed, ==, 0);
  g_assert_nonnull (outcome.context);
  g_variant_get (outcome.context, "(&si)", &name, &number);
  g_assert_cmpstr (name, ==, "order");
  g_assert_cmpint (number, ==, 42);
  g_assert_nonnull (outcome.log);
  g_assert_cmpstr (outcome.log, ==, smtp_client_task_get_transaction_log (task));
  g_assert_cmpuint (outcome.progress_count, >=, 1);
  g_assert_cmpuint (outcome.last_total, ==, strlen ("Subject: ctx\r\n\r\nbody\r\n"));
  g_assert_cmpuint (outcome.last_sent, ==, outcome.last_total);
  outcome_clear (&outcome);
}

static void
test_send_twice (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  Outcome outcome = { 0 };

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_assert_true (smtp_test_run_task (task, &error));

  smtp_client_task_send_async (task, NULL, on_sent, &outcome);
  g_signal_connect (task, "failed", G_CALLBACK (on_failed), &outcome);
  wait_for (&outcome.callback_called);
  g_assert_false (outcome.result);
  g_assert_error (outcome.error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
  g_assert_cmpuint (outcome.failed, ==, 1);
  /* The first delivery stands */
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 1);
  outcome_clear (&outcome);
}

static void
test_fire_and_forget (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  SmtpClientTask *task;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_test_summary ("send() keeps the task alive after the caller drops it");

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  smtp_client_task_send (task);
  g_object_unref (task);

  while (smtp_test_server_get_messages (server)->len == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

static void
test_content_precedence (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autofree char *path = smtp_test_tmp_path ("precedence.eml");
  g_autoptr(GFile) file = NULL;
  g_autoptr(GBytes) stream_bytes = NULL;
  g_autoptr(GInputStream) stream = NULL;
  g_autoptr(SmtpClientTask) task1 = NULL;
  g_autoptr(SmtpClientTask) task2 = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;

  g_test_summary ("input-stream wins over message-file, which wins over body");

  g_assert_true (g_file_set_contents (path, "Subject: file\n\nfrom the file\n",
                                      -1, NULL));
  file = g_file_new_for_path (path);
  stream_bytes = g_bytes_new_static ("Subject: stream\n\nfrom the stream\n",
                                     strlen ("Subject: stream\n\nfrom the stream\n"));
  stream = g_memory_input_stream_new_from_bytes (stream_bytes);

  task1 = smtp_test_task_new (smtp_test_server_get_port (server),
                              "Subject: body\n\nfrom the body\n");
  g_object_set (task1, "message-file", file, "input-stream", stream, NULL);
  g_assert_true (smtp_test_run_task (task1, &error));
  g_assert_no_error (error);

  task2 = smtp_test_task_new (smtp_test_server_get_port (server),
                              "Subject: body\n\nfrom the body\n");
  g_object_set (task2, "message-file", file, NULL);
  g_assert_true (smtp_test_run_task (task2, &error));
  g_assert_no_error (error);

  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 2);
  assert_content (g_ptr_array_index (messages, 0),
                  "Subject: stream\r\n\r\nfrom the stream\r\n");
  assert_content (g_ptr_array_index (messages, 1),
                  "Subject: file\r\n\r\nfrom the file\r\n");
}

static void
test_message_file_missing (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = g_file_new_for_path ("/nonexistent/dir/message.eml");

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "message-file", file, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_FILE);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
test_large_file (void)
{
  g_autoptr(SmtpTestServer) server = NULL;
  g_autofree char *path = smtp_test_tmp_path ("large.eml");
  g_autoptr(GChecksum) expected = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GChecksum) received = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileOutputStream) out = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const gsize total = 100 * 1024 * 1024;
  char line[1024];
  gsize written = 0;
  guint n = 0;
  SmtpTestMessage *message;
  gsize size = 0;
  const guint8 *data;

  g_test_summary ("A 100 MB message file is streamed; the server's copy has "
                  "the same SHA-256 as the wire form of the file");

  server = smtp_test_server_start_aiosmtpd ("--size", "0", NULL);
  file = g_file_new_for_path (path);
  out = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, &error);
  g_assert_no_error (error);

  /* Lines of 1000 bytes with LF ends, some starting with a dot: the wire
   * form (what the server stores after unstuffing) has CRLF. */
  while (written < total)
    {
      gsize length = g_snprintf (line, sizeof line - 2, "%s%08u ",
                                 n % 97 == 0 ? "." : "", n);

      memset (line + length, 'a' + n % 26, 998 - length);
      line[998] = '\n';
      g_assert_true (g_output_stream_write_all (G_OUTPUT_STREAM (out), line,
                                                999, NULL, NULL, &error));
      line[998] = '\r';
      line[999] = '\n';
      g_checksum_update (expected, (guchar *) line, 1000);
      written += 999;
      n++;
    }
  g_assert_true (g_output_stream_close (G_OUTPUT_STREAM (out), NULL, &error));

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "message-file", file, "timeout", 60, NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = only_message (server);
  data = g_bytes_get_data (message->content, &size);
  g_assert_cmpuint (size, ==, n * 1000);
  g_checksum_update (received, data, size);
  g_assert_cmpstr (g_checksum_get_string (received), ==,
                   g_checksum_get_string (expected));
  g_unlink (path);
}

static void
test_smtputf8 (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--smtputf8", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "δοκιμή@παράδειγμα.δοκιμή", NULL };
  SmtpTestMessage *message;

  task = smtp_test_task_new (smtp_test_server_get_port (server),
                             "Subject: =?UTF-8?Q?caf=C3=A9?=\n\ncafé\n");
  g_object_set (task, "to", to, "from", "josé@example.org", NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);

  message = only_message (server);
  g_assert_cmpstr (message->mail_from, ==, "josé@example.org");
  g_assert_true (strv_has (message->rcpt_tos, to[0]));
  g_assert_true (strv_has (message->mail_options, "SMTPUTF8"));
  g_assert_true (strv_has (message->mail_options, "BODY=8BITMIME"));
}

static void
test_smtputf8_not_offered (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "δοκιμή@example.org", NULL };

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "to", to, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_NOT_SUPPORTED);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
test_8bitmime_and_size (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task1 = NULL;
  g_autoptr(SmtpClientTask) task2 = NULL;
  g_autoptr(GError) error = NULL;
  GPtrArray *messages;
  SmtpTestMessage *seven, *eight;
  const char *body7 = "Subject: ascii\n\nplain\n";

  g_test_summary ("SIZE is declared; BODY=8BITMIME only for 8-bit content");

  task1 = smtp_test_task_new (smtp_test_server_get_port (server), body7);
  g_assert_true (smtp_test_run_task (task1, &error));
  task2 = smtp_test_task_new (smtp_test_server_get_port (server),
                              "Subject: latin\n\ncaf\xc3\xa9\n");
  g_assert_true (smtp_test_run_task (task2, &error));
  g_assert_no_error (error);

  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 2);
  seven = g_ptr_array_index (messages, 0);
  eight = g_ptr_array_index (messages, 1);
  g_assert_false (strv_has_prefix (seven->mail_options, "BODY="));
  g_assert_true (strv_has (eight->mail_options, "BODY=8BITMIME"));
  g_assert_true (strv_has_prefix (seven->mail_options, "SIZE="));
  assert_content (eight, "Subject: latin\r\n\r\ncaf\xc3\xa9\r\n");
}

static void
test_size_too_large (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--size", "1000", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *body = NULL;

  body = g_strnfill (2000, 'x');
  task = smtp_test_task_new (smtp_test_server_get_port (server), body);
  g_object_set (task, "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE);
  g_assert_null (strstr (smtp_client_task_get_transaction_log (task), "MAIL FROM"));
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
run_auth (const char *mechanism,
          const char *password,
          GError    **error,
          guint      *ok,
          guint      *failed,
          char      **log)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--auth", "alice:s3cret pass", NULL);
  g_autoptr(SmtpClientTask) task = NULL;

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task,
                "auth-user", "alice",
                "auth-password", password,
                "auth-mechanism", mechanism,
                "allow-insecure-auth", TRUE,
                "transaction-log", TRUE,
                NULL);
  smtp_test_run_task (task, error);
  smtp_test_server_get_auth_counts (server, ok, failed);
  *log = g_strdup (smtp_client_task_get_transaction_log (task));
  if (*error == NULL)
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 1);
  else
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
test_auth (gconstpointer data)
{
  const char *mechanism = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  guint ok = 0, failed = 0;

  run_auth (mechanism, "s3cret pass", &error, &ok, &failed, &log);
  g_assert_no_error (error);
  g_assert_cmpuint (ok, ==, 1);
  g_assert_cmpuint (failed, ==, 0);
  if (mechanism != NULL)
    {
      g_autofree char *expected = g_strdup_printf ("-> AUTH %s", mechanism);

      g_assert_nonnull (strstr (log, expected));
    }
  g_assert_null (strstr (log, "s3cret"));
  g_assert_null (strstr (log, "czNjcmV0")); /* base64 of the password start */
}

static void
test_auth_wrong_password (gconstpointer data)
{
  const char *mechanism = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  guint ok = 0, failed = 0;

  run_auth (mechanism, "wrong", &error, &ok, &failed, &log);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_cmpuint (ok, ==, 0);
  g_assert_cmpuint (failed, ==, 1);
  g_assert_null (strstr (log, "MAIL FROM"));
  g_assert_null (strstr (log, "wrong"));
}

static void
test_auth_refused_in_plain_text (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd ("--auth", "alice:pw", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  guint ok = 0, failed = 0;

  g_test_summary ("Without allow-insecure-auth, credentials are refused over "
                  "plain TCP before anything is sent");

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "auth-user", "alice", "auth-password", "pw",
                "transaction-log", TRUE, NULL);
  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
  g_assert_cmpstr (smtp_client_task_get_transaction_log (task), ==, "");
  smtp_test_server_get_auth_counts (server, &ok, &failed);
  g_assert_cmpuint (ok + failed, ==, 0);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
}

static void
test_refused_recipient (gconstpointer data)
{
  gboolean allow = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestServer) server =
    smtp_test_server_start_aiosmtpd ("--refuse-rcpt", "nobody@example.org", NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *to[] = { "ok@example.org", "nobody@example.org", NULL };
  const char * const *refused;

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task, "to", to, "allow-refused-recipients", allow, NULL);

  if (allow)
    {
      SmtpTestMessage *message;

      g_assert_true (smtp_test_run_task (task, &error));
      g_assert_no_error (error);
      message = only_message (server);
      g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 1);
      g_assert_true (strv_has (message->rcpt_tos, "ok@example.org"));
    }
  else
    {
      g_assert_false (smtp_test_run_task (task, &error));
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_nonnull (strstr (error->message, "nobody@example.org"));
      g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 550);
      g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 0);
    }

  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_nonnull (refused);
  g_assert_cmpstr (refused[0], ==, "nobody@example.org");
  g_assert_null (refused[1]);
}

static void
test_dsn_not_offered (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (NULL);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char *log;
  SmtpTestMessage *message;

  task = smtp_test_task_new (smtp_test_server_get_port (server), NULL);
  g_object_set (task,
                "dsn-notify", SMTP_CLIENT_DSN_NOTIFY_FAILURE | SMTP_CLIENT_DSN_NOTIFY_DELAY,
                "dsn-return", SMTP_CLIENT_DSN_RETURN_HEADERS,
                "dsn-envelope-id", "id+1=2",
                "transaction-log", TRUE,
                NULL);
  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  log = smtp_client_task_get_transaction_log (task);
  g_assert_nonnull (strstr (log, "DSN"));
  g_assert_null (strstr (log, "NOTIFY="));
  g_assert_null (strstr (log, "RET="));
  message = only_message (server);
  g_assert_false (strv_has_prefix (message->mail_options, "RET="));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/aiosmtpd/deliver-exact", test_deliver_exact);
  g_test_add_func ("/smtpclient/aiosmtpd/several-recipients", test_several_recipients);
  g_test_add_func ("/smtpclient/aiosmtpd/my-hostname", test_my_hostname);
  g_test_add_func ("/smtpclient/aiosmtpd/context-and-async", test_context_and_async);
  g_test_add_func ("/smtpclient/aiosmtpd/send-twice", test_send_twice);
  g_test_add_func ("/smtpclient/aiosmtpd/fire-and-forget", test_fire_and_forget);
  g_test_add_func ("/smtpclient/aiosmtpd/content-precedence", test_content_precedence);
  g_test_add_func ("/smtpclient/aiosmtpd/message-file-missing", test_message_file_missing);
  g_test_add_func ("/smtpclient/aiosmtpd/large-file", test_large_file);
  g_test_add_func ("/smtpclient/aiosmtpd/smtputf8", test_smtputf8);
  g_test_add_func ("/smtpclient/aiosmtpd/smtputf8-not-offered", test_smtputf8_not_offered);
  g_test_add_func ("/smtpclient/aiosmtpd/8bitmime-and-size", test_8bitmime_and_size);
  g_test_add_func ("/smtpclient/aiosmtpd/size-too-large", test_size_too_large);
  g_test_add_data_func ("/smtpclient/aiosmtpd/auth/plain", "PLAIN", test_auth);
  g_test_add_data_func ("/smtpclient/aiosmtpd/auth/login", "LOGIN", test_auth);
  g_test_add_data_func ("/smtpclient/aiosmtpd/auth/auto", NULL, test_auth);
  g_test_add_data_func ("/smtpclient/aiosmtpd/auth/plain-wrong-password", "PLAIN",
                        test_auth_wrong_password);
  g_test_add_data_func ("/smtpclient/aiosmtpd/auth/login-wrong-password", "LOGIN",
                        test_auth_wrong_password);
  g_test_add_func ("/smtpclient/aiosmtpd/auth/refused-in-plain-text",
                   test_auth_refused_in_plain_text);
  g_test_add_data_func ("/smtpclient/aiosmtpd/refused-recipient/strict",
                        GINT_TO_POINTER (FALSE), test_refused_recipient);
  g_test_add_data_func ("/smtpclient/aiosmtpd/refused-recipient/allowed",
                        GINT_TO_POINTER (TRUE), test_refused_recipient);
  g_test_add_func ("/smtpclient/aiosmtpd/dsn-not-offered", test_dsn_not_offered);

  return g_test_run ();
}
