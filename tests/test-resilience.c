/* test-resilience.c: the limits real servers put on a client, played by
 * the in-process scripted server: retries, stale connections, too many
 * recipients, throttling, the message rate, statistics and timings
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each scripted behaviour is one a real server has: OpenSMTPD's "452
 * 4.5.3 Too many messages" after 100 messages on a connection, Exim's 421
 * at its per-connection limit, an idle timeout, "452 4.5.3 Too many
 * recipients" (RFC 5321 §4.5.3.1.10), Amazon SES's "454 Throttling
 * failure".
 */

#include "config.h"

#include <string.h>
#include <unistd.h>
#include <gio/gunixinputstream.h>

#include "smtpclient-test-proxy.h"
#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

#define GREETING "S 220 scripted ESMTP\n"

/* ---------------------------------------------------------------------- */
/* Helpers */

static SmtpClientSession *
session_new (guint port,
             guint max_connections)
{
  return g_object_new (SMTP_CLIENT_TYPE_SESSION,
                       "server", "127.0.0.1",
                       "port", port,
                       "timeout", 10,
                       "max-connections", max_connections,
                       "retry-delay", 10,
                       NULL);
}

/* @n tasks with the bodies "message <i>", through @session */
static SmtpTestDelivery **
send_numbered (SmtpClientSession *session,
               guint              port,
               guint              n)
{
  SmtpTestDelivery **deliveries = g_new0 (SmtpTestDelivery *, n);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *body = g_strdup_printf ("Subject: %u\r\n\r\n"
                                               "message %u\r\n", i, i);
      g_autoptr(SmtpClientTask) task = smtp_test_task_new (port, body);
      g_autofree char *alias = g_strdup_printf ("task-%u", i);

      g_object_set (task, "session", session, "transaction-log", TRUE,
                    "alias", alias, NULL);
      deliveries[i] = smtp_test_delivery_start (task, NULL);
    }
  smtp_test_delivery_wait (deliveries, n);

  return deliveries;
}

static void
free_deliveries (SmtpTestDelivery **deliveries,
                 guint              n)
{
  for (guint i = 0; i < n; i++)
    smtp_test_delivery_free (deliveries[i]);
  g_free (deliveries);
}

/* Every one of @n tasks succeeded once, and the server has each of the
 * numbered messages exactly once */
static void
assert_each_delivered_once (SmtpTestScriptServer  *server,
                            SmtpTestDelivery     **deliveries,
                            guint                  n)
{
  g_autoptr(GPtrArray) messages = smtp_test_script_server_get_messages (server);
  g_autofree guint *seen = g_new0 (guint, n);

  for (guint i = 0; i < n; i++)
    {
      if (deliveries[i]->error != NULL)
        smtp_test_print_log (deliveries[i]->task);
      g_assert_no_error (deliveries[i]->error);
      g_assert_cmpuint (deliveries[i]->succeeded, ==, 1);
      g_assert_cmpuint (deliveries[i]->failed, ==, 0);
      g_assert_cmpint (smtp_client_task_get_delivery_state (deliveries[i]->task),
                       ==, SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
    }

  g_assert_cmpuint (messages->len, ==, n);
  for (guint i = 0; i < messages->len; i++)
    {
      gsize size = 0;
      const char *data = g_bytes_get_data (g_ptr_array_index (messages, i),
                                           &size);
      g_autofree char *text = g_strndup (data, size);
      const char *number = strstr (text, "message ");
      guint64 k;

      g_assert_nonnull (number);
      k = g_ascii_strtoull (number + strlen ("message "), NULL, 10);
      g_assert_cmpuint (k, <, n);
      seen[k]++;
    }
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (seen[i], ==, 1);
}

static guint64
statistic (SmtpClientSession *session,
           const char        *name)
{
  g_autoptr(GVariant) statistics = smtp_client_session_get_statistics (session);
  guint64 value = G_MAXUINT64;

  g_assert_true (g_variant_is_of_type (statistics, G_VARIANT_TYPE ("a{sv}")));
  g_assert_true (g_variant_lookup (statistics, name, "t", &value));
  return value;
}

static guint
count_attempts (SmtpTestDelivery **deliveries,
                guint              n,
                guint              attempts)
{
  guint count = 0;

  for (guint i = 0; i < n; i++)
    if (smtp_client_task_get_attempts (deliveries[i]->task) == attempts)
      count++;

  return count;
}

static gboolean
on_waited (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterate the thread-default context for @ms milliseconds */
static void
wait_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, on_waited, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* ---------------------------------------------------------------------- */
/* A server's limit of messages per connection */

static void
test_mail_452_limit (gconstpointer data)
{
  gboolean pipelining = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery **deliveries;
  guint port;

  g_test_summary ("OpenSMTPD's limit: after 100 messages on a connection "
                  "it answers MAIL with “452 4.5.3 Too many recipients: Too "
                  "many messages sent”. 200 messages through one session: "
                  "the connection is retired, every message is delivered "
                  "exactly once, over 2 connections or more");

  server = smtp_test_script_server_new (pipelining
                                        ? GREETING "SERVE PIPELINING MAIL-452=100\n"
                                        : GREETING "SERVE MAIL-452=100\n");
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 1);

  deliveries = send_numbered (session, port, 200);
  smtp_test_close_session (session);

  assert_each_delivered_once (server, deliveries, 200);
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), >=, 2);
  g_assert_cmpuint (statistic (session, "messages-accepted"), ==, 200);
  g_assert_cmpuint (statistic (session, "messages-failed"), ==, 0);
  g_assert_cmpuint (statistic (session, "connections-opened"), ==,
                    smtp_test_script_server_get_n_connections (server));
  /* Only the task whose MAIL was refused paid an attempt for it: the
   * others queued on that connection went to the next one for free */
  g_assert_cmpuint (count_attempts (deliveries, 200, 2), ==,
                    statistic (session, "retries"));
  g_assert_cmpuint (count_attempts (deliveries, 200, 1) +
                    count_attempts (deliveries, 200, 2), ==, 200);
  g_assert_cmpuint (statistic (session, "retries"), >=, 1);
  free_deliveries (deliveries, 200);
}

static void
test_mail_421_limit (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery **deliveries;
  guint port;

  g_test_summary ("Exim's limit: after 3 messages on a connection it "
                  "answers MAIL with 421 and closes. 10 messages through "
                  "one session are all delivered exactly once, over 4 "
                  "connections or more");

  server = smtp_test_script_server_new (GREETING "SERVE PIPELINING MAIL-421=3\n");
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 1);

  deliveries = send_numbered (session, port, 10);
  smtp_test_close_session (session);

  assert_each_delivered_once (server, deliveries, 10);
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), >=, 4);
  for (guint i = 0; i < 10; i++)
    {
      if (smtp_client_task_get_attempts (deliveries[i]->task) > 2)
        smtp_test_print_log (deliveries[i]->task);
      g_assert_cmpuint (smtp_client_task_get_attempts (deliveries[i]->task), <=, 2);
    }
  free_deliveries (deliveries, 10);
}

/* ---------------------------------------------------------------------- */
/* Stale connections */

static void
test_stale (gconstpointer data)
{
  const char *option = data;
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autofree char *script = NULL;
  guint port;

  g_test_summary ("A server that ends idle connections after 1 s (closing "
                  "them, or saying 421 first): tasks sent 2 s apart through "
                  "one session all succeed at the first attempt, each on a "
                  "fresh connection");

  script = g_strdup_printf (GREETING "SERVE PIPELINING %s=1\n", option);
  server = smtp_test_script_server_new (script);
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 1);

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(SmtpClientTask) task = smtp_test_task_new (port, NULL);
      g_autoptr(SmtpTestDelivery) delivery = NULL;

      if (i > 0)
        wait_ms (2000);
      g_object_set (task, "session", session, NULL);
      delivery = smtp_test_delivery_start (task, NULL);
      smtp_test_delivery_wait (&delivery, 1);
      g_assert_no_error (delivery->error);
      g_assert_cmpuint (smtp_client_task_get_attempts (task), ==, 1);
    }
  smtp_test_close_session (session);

  g_assert_cmpuint (statistic (session, "messages-accepted"), ==, 3);
  g_assert_cmpuint (statistic (session, "retries"), ==, 0);
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), ==, 3);
}

/* ---------------------------------------------------------------------- */
/* Too many recipients */

static const char * const ten_recipients[] = {
  "r0@example.org", "r1@example.org", "r2@example.org", "r3@example.org",
  "r4@example.org", "r5@example.org", "r6@example.org", "r7@example.org",
  "r8@example.org", "r9@example.org", NULL
};

static void
test_too_many_recipients (gconstpointer data)
{
  gboolean pipelining = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) commands = NULL;
  guint mails = 0;
  guint port;

  g_test_summary ("A server that takes 3 recipients per transaction and "
                  "answers the 4th with “452 4.5.3 Too many recipients”: a "
                  "message to 10 recipients goes in 4 transactions on the "
                  "one connection, and the task succeeds with each "
                  "recipient's reply (RFC 5321 §4.5.3.1.10)");

  server = smtp_test_script_server_new (pipelining
                                        ? GREETING "SERVE PIPELINING RCPT-452=3\n"
                                        : GREETING "SERVE RCPT-452=3\n");
  port = smtp_test_script_server_get_port (server);
  task = smtp_test_task_new (port, NULL);
  g_object_set (task, "to", ten_recipients, "transaction-log", TRUE, NULL);

  g_assert_true (smtp_test_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (server, 1);

  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 4);
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), ==, 1);
  commands = smtp_test_script_server_get_commands (server, 0);
  for (guint i = 0; commands[i] != NULL; i++)
    if (g_str_has_prefix (commands[i], "MAIL FROM:"))
      mails++;
  g_assert_cmpuint (mails, ==, 4);

  for (guint i = 0; ten_recipients[i] != NULL; i++)
    {
      g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task, ten_recipients[i]),
                        ==, 250);
      g_assert_cmpstr (smtp_client_task_get_recipient_reply (task, ten_recipients[i]),
                       ==, "250 2.1.5 ok");
    }
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
  g_assert_cmpuint (g_strv_length ((GStrv) smtp_client_task_get_refused_recipients (task)),
                    ==, 0);
  g_assert_cmpuint (smtp_client_task_get_attempts (task), ==, 1);
  g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (task),
                            "-- the server takes 3 recipients at a time"));
  smtp_test_assert_log_format (smtp_client_task_get_transaction_log (task));
}

/* Content that cannot be read twice: a pipe, written and closed */
static GInputStream *
pipe_stream (const char *text)
{
  int fds[2];

  g_assert_cmpint (pipe (fds), ==, 0);
  g_assert_cmpint (write (fds[1], text, strlen (text)), ==, (gssize) strlen (text));
  close (fds[1]);

  return g_unix_input_stream_new (fds[0], TRUE);
}

static void
test_too_many_recipients_pipe (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GInputStream) stream = pipe_stream ("Subject: pipe\r\n\r\nbody\r\n");
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *refused;
  guint port;

  g_test_summary ("Too many recipients, with content from a pipe: it "
                  "cannot be read again for the others, so the task fails "
                  "(REFUSED, never retried: the first 3 have it) and names "
                  "the 7 recipients that did not get it");

  server = smtp_test_script_server_new (GREETING "SERVE PIPELINING RCPT-452=3\n");
  port = smtp_test_script_server_get_port (server);
  task = smtp_test_task_new (port, NULL);
  g_object_set (task, "to", ten_recipients, "body", NULL,
                "input-stream", stream, "max-retries", 2, NULL);

  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  smtp_test_script_server_wait (server, 1);

  messages = smtp_test_script_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
  g_assert_cmpuint (smtp_client_task_get_attempts (task), ==, 1);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 452);
  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_cmpuint (g_strv_length ((GStrv) refused), ==, 7);
  g_assert_true (g_strv_contains (refused, "r9@example.org"));
  g_assert_false (g_strv_contains (refused, "r0@example.org"));
}

/* ---------------------------------------------------------------------- */
/* Throttling and the message rate */

static void
test_throttled (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery **deliveries;
  guint port;

  g_test_summary ("A provider's rate limit: once 5 messages are in, every "
                  "MAIL for 300 ms gets “454 4.7.0 Throttling failure”. "
                  "20 messages through a session of 4 connections: it "
                  "counts the throttling, backs off, and every message is "
                  "delivered exactly once");

  server = smtp_test_script_server_new (GREETING
                                        "SERVE PIPELINING THROTTLE=5:300\n");
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 4);
  g_object_set (session, "retry-delay", 200, "max-retries", 4, NULL);

  deliveries = send_numbered (session, port, 20);
  smtp_test_close_session (session);

  assert_each_delivered_once (server, deliveries, 20);
  g_assert_cmpuint (statistic (session, "throttled"), >=, 1);
  g_assert_cmpuint (statistic (session, "retries"), >=, 1);
  g_assert_cmpuint (statistic (session, "messages-accepted"), ==, 20);
  for (guint i = 0; i < 20; i++)
    if (smtp_client_task_get_attempts (deliveries[i]->task) > 1)
      g_assert_nonnull (strstr (smtp_client_task_get_transaction_log (deliveries[i]->task),
                                "-- retry 1: "));
  free_deliveries (deliveries, 20);
}

static void
test_rate (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GArray) times = NULL;
  SmtpTestDelivery **deliveries;
  guint port;

  g_test_summary ("max-messages-per-minute 1200 spreads the transactions "
                  "50 ms apart, over two connections too");

  server = smtp_test_script_server_new (GREETING "SERVE PIPELINING\n");
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 2);
  g_object_set (session, "max-messages-per-minute", 1200, NULL);

  deliveries = send_numbered (session, port, 6);
  smtp_test_close_session (session);

  assert_each_delivered_once (server, deliveries, 6);
  times = smtp_test_script_server_get_mail_times (server);
  g_assert_cmpuint (times->len, ==, 6);
  for (guint i = 1; i < times->len; i++)
    {
      gint64 gap = g_array_index (times, gint64, i) -
                   g_array_index (times, gint64, i - 1);

      /* 50 ms, less what the network delays the first of the two */
      g_assert_cmpint (gap, >=, 40 * 1000);
    }
  free_deliveries (deliveries, 6);
}

/* ---------------------------------------------------------------------- */
/* What is never retried */

typedef struct
{
  const char              *name;
  const char              *script;
  gboolean                 auth;
  SmtpClientDeliveryState  state;
} NotRetried;

static const NotRetried not_retried[] = {
  { "5yz",
    GREETING "C EHLO*\nS 250 scripted\nC MAIL*\nS 550 5.7.1 not you\n"
    "C QUIT\nS 221 bye\n",
    FALSE, SMTP_CLIENT_DELIVERY_STATE_REFUSED },
  { "auth-failed",
    GREETING "C EHLO*\nS 250-scripted\nS 250 AUTH PLAIN\nC AUTH PLAIN*\n"
    "S 535 5.7.8 bad credentials\nC QUIT\nS 221 bye\n",
    TRUE, SMTP_CLIENT_DELIVERY_STATE_NOT_SENT },
  { "uncertain",
    GREETING "C EHLO*\nS 250 scripted\nC MAIL*\nS 250 ok\nC RCPT*\n"
    "S 250 ok\nC DATA\nS 354 go\nCDATA\nCLOSE\n",
    FALSE, SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN },
};

static void
test_not_retried (gconstpointer data)
{
  const NotRetried *row = data;
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Failures that another attempt would not mend or could "
                  "duplicate — a 5yz, a refused AUTH, a connection lost "
                  "after the final dot — are not retried, with "
                  "max-retries 2: one attempt, one connection");

  server = smtp_test_script_server_new (row->script);
  task = smtp_test_task_new (smtp_test_script_server_get_port (server), NULL);
  g_object_set (task, "max-retries", 2, "retry-delay", 10, NULL);
  if (row->auth)
    g_object_set (task, "auth-user", "alice", "auth-password", "secret",
                  "auth-mechanism", "PLAIN", "allow-insecure-auth", TRUE,
                  NULL);

  g_assert_false (smtp_test_run_task (task, &error));
  g_assert_nonnull (error);
  smtp_test_script_server_wait (server, 1);

  g_assert_cmpuint (smtp_client_task_get_attempts (task), ==, 1);
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (server), ==, 1);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==, row->state);
  g_assert_null (smtp_test_script_server_get_failure (server));
}

/* ---------------------------------------------------------------------- */
/* Statistics and timings */

static void
test_statistics (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  SmtpTestDelivery **deliveries;
  guint64 content = 0;
  guint port;

  g_test_summary ("A session's statistics count what it did: 5 messages "
                  "on one connection (opened once, reused 4 times), the "
                  "bytes written, no retry, no throttling");

  server = smtp_test_script_server_new (GREETING "SERVE PIPELINING\n");
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 1);

  deliveries = send_numbered (session, port, 5);
  smtp_test_close_session (session);
  assert_each_delivered_once (server, deliveries, 5);

  for (guint i = 0; i < 5; i++)
    content += strlen ("Subject: 0\r\n\r\nmessage 0\r\n");

  g_assert_cmpuint (statistic (session, "messages-accepted"), ==, 5);
  g_assert_cmpuint (statistic (session, "messages-failed"), ==, 0);
  g_assert_cmpuint (statistic (session, "connections-opened"), ==, 1);
  g_assert_cmpuint (statistic (session, "connections-reused"), ==, 4);
  g_assert_cmpuint (statistic (session, "retries"), ==, 0);
  g_assert_cmpuint (statistic (session, "throttled"), ==, 0);
  /* The content, and the commands around it */
  g_assert_cmpuint (statistic (session, "bytes-sent"), >, content + 5 * 30);
  free_deliveries (deliveries, 5);
}

static gdouble
timing (SmtpClientTask *task,
        const char     *name)
{
  g_autoptr(GVariant) timings = smtp_client_task_get_timings (task);
  gdouble value = -1;

  g_assert_true (g_variant_is_of_type (timings, G_VARIANT_TYPE ("a{sd}")));
  g_assert_true (g_variant_lookup (timings, name, "d", &value));
  return value;
}

static void
test_timings (void)
{
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(SmtpClientTask) first = NULL;
  g_autoptr(SmtpClientTask) second = NULL;
  g_autoptr(GError) error = NULL;
  gdouble parts;
  guint port;

  g_test_summary ("A task's timings: the opener of a connection spent "
                  "time connecting and authenticating, the next task on it "
                  "none; both spent time on the envelope and the data; "
                  "the parts add up to no more than the total");

  server = smtp_test_script_server_new (GREETING "SERVE AUTH\n");
  port = smtp_test_script_server_get_port (server);
  session = session_new (port, 1);
  g_object_set (session, "auth-user", "alice", "auth-password", "secret",
                "auth-mechanism", "PLAIN", "allow-insecure-auth", TRUE, NULL);

  first = smtp_test_task_new (port, NULL);
  g_object_set (first, "session", session, NULL);
  g_assert_cmpfloat (timing (first, "total"), ==, 0);
  g_assert_true (smtp_test_run_task (first, &error));
  second = smtp_test_task_new (port, NULL);
  g_object_set (second, "session", session, NULL);
  g_assert_true (smtp_test_run_task (second, &error));
  g_assert_no_error (error);
  smtp_test_close_session (session);

  g_assert_cmpfloat (timing (first, "connect"), >, 0);
  g_assert_cmpfloat (timing (first, "auth"), >, 0);
  g_assert_cmpfloat (timing (first, "tls"), ==, 0);
  g_assert_cmpfloat (timing (second, "connect"), ==, 0);
  g_assert_cmpfloat (timing (second, "auth"), ==, 0);

  for (guint i = 0; i < 2; i++)
    {
      SmtpClientTask *task = i == 0 ? first : second;

      g_assert_cmpfloat (timing (task, "envelope"), >, 0);
      g_assert_cmpfloat (timing (task, "data"), >, 0);
      parts = timing (task, "connect") + timing (task, "tls") +
              timing (task, "auth") + timing (task, "envelope") +
              timing (task, "data");
      g_assert_cmpfloat (parts, <=, timing (task, "total"));
    }
}

/* ---------------------------------------------------------------------- */
/* Chaos */

/* Fewer messages where every one costs more (sanitizers, valgrind) */
#if defined(__SANITIZE_ADDRESS__)
#define CHAOS_MESSAGES 1000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHAOS_MESSAGES 1000
#endif
#endif
#ifndef CHAOS_MESSAGES
#define CHAOS_MESSAGES 2000
#endif

typedef struct
{
  guint n_ended;       /* tasks that emitted their signal */
  guint n_signals;     /* signals emitted, all tasks */
} Chaos;

static void
on_chaos_succeeded (SmtpClientTask *task,
                    GVariant       *context,
                    const char     *log,
                    gpointer        user_data)
{
  ((Chaos *) user_data)->n_signals++;
}

static void
on_chaos_failed (SmtpClientTask *task,
                 GVariant       *context,
                 GError         *error,
                 const char     *log,
                 gpointer        user_data)
{
  ((Chaos *) user_data)->n_signals++;
}

static void
on_chaos_sent (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Chaos *chaos = user_data;
  g_autoptr(GError) error = NULL;

  smtp_client_task_send_finish (SMTP_CLIENT_TASK (source), result, &error);
  chaos->n_ended++;
}

/* The token in a stored message ("token <n>"), G_MAXUINT if none */
static guint
message_token (GBytes *message)
{
  gsize size = 0;
  const char *data = g_bytes_get_data (message, &size);
  g_autofree char *text = g_strndup (data, size);
  const char *found = strstr (text, "token ");

  return found != NULL ? (guint) g_ascii_strtoull (found + 6, NULL, 10)
                       : G_MAXUINT;
}

static void
test_chaos (gconstpointer data)
{
  guint max_retries = GPOINTER_TO_UINT (data);
  const guint n = CHAOS_MESSAGES;
  g_autoptr(SmtpTestScriptServer) server = NULL;
  g_autoptr(SmtpTestProxy) proxy = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GPtrArray) tasks = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) stored = NULL;
  g_autofree guint *copies = g_new0 (guint, n);
  guint counts[SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN + 1] = { 0 };
  guint64 attempts_beyond_first = 0;
  gint64 deadline;
  Chaos chaos = { 0 };
  guint32 seed = g_test_rand_int ();

  g_test_summary ("Chaos: 2,000 messages (1,000 under ASan), each with a "
                  "unique token, through a session of 4 connections, "
                  "through a proxy that cuts (FIN or RST) or stalls "
                  "connections at random points of the conversation. "
                  "Every task ends once; every ACCEPTED message is stored "
                  "exactly once, no NOT_SENT one at all; the statistics add "
                  "up. With max-retries 2, and with none (then failures "
                  "stay NOT_SENT)");

  server = smtp_test_script_server_new (GREETING "SERVE PIPELINING\n");
  /* Every connection fails, somewhere in its first 4 kB of one
   * direction: faults at every stage, from the greeting to QUIT */
  proxy = smtp_test_proxy_new (smtp_test_script_server_get_port (server), seed,
                               100, 4 * 1024);
  session = session_new (smtp_test_proxy_get_port (proxy), 4);
  g_object_set (session, "timeout", 1, "retry-delay", 1,
                "max-retries", max_retries, NULL);
  g_test_message ("chaos: seed %" G_GUINT32_FORMAT ", %u messages, "
                  "max-retries %u", seed, n, max_retries);

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *body = g_strdup_printf ("Subject: chaos %u\r\n\r\n"
                                               "token %u\r\n"
                                               "..a line that needs a dot\r\n",
                                               i, i);
      SmtpClientTask *task = smtp_test_task_new (smtp_test_proxy_get_port (proxy),
                                                 body);

      g_object_set (task, "session", session, NULL);
      g_signal_connect (task, "succeeded", G_CALLBACK (on_chaos_succeeded),
                        &chaos);
      g_signal_connect (task, "failed", G_CALLBACK (on_chaos_failed), &chaos);
      smtp_client_task_send_async (task, NULL, on_chaos_sent, &chaos);
      g_ptr_array_add (tasks, task);
    }

  deadline = g_get_monotonic_time () + 600 * G_USEC_PER_SEC;
  while (chaos.n_ended < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (chaos.n_ended, ==, n);
  smtp_test_close_session (session);

  /* Exactly one signal each */
  g_assert_cmpuint (chaos.n_signals, ==, n);

  stored = smtp_test_script_server_get_messages (server);
  for (guint i = 0; i < stored->len; i++)
    {
      guint token = message_token (g_ptr_array_index (stored, i));

      g_assert_cmpuint (token, <, n);
      copies[token]++;
    }

  for (guint i = 0; i < n; i++)
    {
      SmtpClientTask *task = g_ptr_array_index (tasks, i);
      SmtpClientDeliveryState state = smtp_client_task_get_delivery_state (task);

      g_assert_cmpint (state, >=, SMTP_CLIENT_DELIVERY_STATE_NOT_SENT);
      g_assert_cmpint (state, <=, SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN);
      counts[state]++;
      g_assert_cmpuint (smtp_client_task_get_attempts (task), >=, 1);
      attempts_beyond_first += smtp_client_task_get_attempts (task) - 1;

      switch (state)
        {
        case SMTP_CLIENT_DELIVERY_STATE_ACCEPTED:
          g_assert_cmpuint (copies[i], ==, 1);
          break;
        case SMTP_CLIENT_DELIVERY_STATE_NOT_SENT:
          g_assert_cmpuint (copies[i], ==, 0);
          break;
        case SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN:
          /* The server may or may not have it; never twice */
          g_assert_cmpuint (copies[i], <=, 1);
          break;
        case SMTP_CLIENT_DELIVERY_STATE_REFUSED:
        case SMTP_CLIENT_DELIVERY_STATE_PENDING:
        default:
          /* Nothing here refuses: a proxy only cuts and stalls */
          g_assert_not_reached ();
        }
    }

  g_test_message ("chaos: %u accepted, %u not sent, %u uncertain; "
                  "%" G_GUINT64_FORMAT " retries; %u connections (%u cut, "
                  "%u reset, %u stalled, %u whole); %u messages stored",
                  counts[SMTP_CLIENT_DELIVERY_STATE_ACCEPTED],
                  counts[SMTP_CLIENT_DELIVERY_STATE_NOT_SENT],
                  counts[SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN],
                  statistic (session, "retries"),
                  smtp_test_proxy_get_n_connections (proxy),
                  smtp_test_proxy_get_n_faults (proxy, SMTP_TEST_FAULT_CLOSE),
                  smtp_test_proxy_get_n_faults (proxy, SMTP_TEST_FAULT_RESET),
                  smtp_test_proxy_get_n_faults (proxy, SMTP_TEST_FAULT_STALL),
                  smtp_test_proxy_get_n_faults (proxy, SMTP_TEST_FAULT_NONE),
                  stored->len);

  /* The statistics add up */
  g_assert_cmpuint (statistic (session, "messages-accepted"), ==,
                    counts[SMTP_CLIENT_DELIVERY_STATE_ACCEPTED]);
  g_assert_cmpuint (statistic (session, "messages-failed"), ==,
                    n - counts[SMTP_CLIENT_DELIVERY_STATE_ACCEPTED]);
  g_assert_cmpuint (statistic (session, "retries"), ==, attempts_beyond_first);
  g_assert_cmpuint (statistic (session, "connections-opened"), ==,
                    smtp_test_proxy_get_n_connections (proxy));
  g_assert_cmpuint (statistic (session, "throttled"), ==, 0);
  /* Faults happened, and most messages still went through */
  g_assert_cmpuint (smtp_test_proxy_get_n_connections (proxy), >, 4);
  g_assert_cmpuint (counts[SMTP_CLIENT_DELIVERY_STATE_ACCEPTED], >, n / 2);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/smtpclient/resilience/mail-452-limit/pipelining",
                        GINT_TO_POINTER (TRUE), test_mail_452_limit);
  g_test_add_data_func ("/smtpclient/resilience/mail-452-limit/one-at-a-time",
                        GINT_TO_POINTER (FALSE), test_mail_452_limit);
  g_test_add_func ("/smtpclient/resilience/mail-421-limit", test_mail_421_limit);
  g_test_add_data_func ("/smtpclient/resilience/stale/idle-close",
                        "IDLE-CLOSE", test_stale);
  g_test_add_data_func ("/smtpclient/resilience/stale/idle-421",
                        "IDLE-421", test_stale);
  g_test_add_data_func ("/smtpclient/resilience/too-many-recipients/pipelining",
                        GINT_TO_POINTER (TRUE), test_too_many_recipients);
  g_test_add_data_func ("/smtpclient/resilience/too-many-recipients/one-at-a-time",
                        GINT_TO_POINTER (FALSE), test_too_many_recipients);
  g_test_add_func ("/smtpclient/resilience/too-many-recipients/pipe",
                   test_too_many_recipients_pipe);
  g_test_add_func ("/smtpclient/resilience/throttled", test_throttled);
  g_test_add_func ("/smtpclient/resilience/rate", test_rate);
  for (gsize i = 0; i < G_N_ELEMENTS (not_retried); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/resilience/not-retried/",
                                           not_retried[i].name, NULL);

      g_test_add_data_func (path, &not_retried[i], test_not_retried);
    }
  g_test_add_func ("/smtpclient/resilience/statistics", test_statistics);
  g_test_add_func ("/smtpclient/resilience/timings", test_timings);
  g_test_add_data_func ("/smtpclient/resilience/chaos/retries",
                        GUINT_TO_POINTER (2), test_chaos);
  g_test_add_data_func ("/smtpclient/resilience/chaos/no-retries",
                        GUINT_TO_POINTER (0), test_chaos);

  return g_test_run ();
}
