/* test-task.c: SmtpClientTask as an application uses it: the signals and
 * the async pair, the context, a second send, fire and forget, the
 * envelope (several recipients, refused ones, SMTPUTF8, DSN), my-hostname,
 * against aiosmtpd
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-utils.h"

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

  message = smtp_test_only_message (server);
  g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 3);
  for (guint i = 0; to[i] != NULL; i++)
    g_assert_true (smtp_test_strv_has (message->rcpt_tos, to[i]));
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
  g_assert_cmpstr (smtp_test_only_message (server)->helo, ==, "client.example.org");
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

  message = smtp_test_only_message (server);
  g_assert_cmpstr (message->mail_from, ==, "josé@example.org");
  g_assert_true (smtp_test_strv_has (message->rcpt_tos, to[0]));
  g_assert_true (smtp_test_strv_has (message->mail_options, "SMTPUTF8"));
  g_assert_true (smtp_test_strv_has (message->mail_options, "BODY=8BITMIME"));
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
      message = smtp_test_only_message (server);
      g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 1);
      g_assert_true (smtp_test_strv_has (message->rcpt_tos, "ok@example.org"));
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
  message = smtp_test_only_message (server);
  g_assert_false (smtp_test_strv_has_prefix (message->mail_options, "RET="));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/task/several-recipients", test_several_recipients);
  g_test_add_func ("/smtpclient/task/my-hostname", test_my_hostname);
  g_test_add_func ("/smtpclient/task/context-and-async", test_context_and_async);
  g_test_add_func ("/smtpclient/task/send-twice", test_send_twice);
  g_test_add_func ("/smtpclient/task/fire-and-forget", test_fire_and_forget);
  g_test_add_func ("/smtpclient/task/smtputf8", test_smtputf8);
  g_test_add_func ("/smtpclient/task/smtputf8-not-offered",
                   test_smtputf8_not_offered);
  g_test_add_data_func ("/smtpclient/task/refused-recipient/strict",
                        GINT_TO_POINTER (FALSE), test_refused_recipient);
  g_test_add_data_func ("/smtpclient/task/refused-recipient/allowed",
                        GINT_TO_POINTER (TRUE), test_refused_recipient);
  g_test_add_func ("/smtpclient/task/dsn-not-offered", test_dsn_not_offered);

  return g_test_run ();
}
