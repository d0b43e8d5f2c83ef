/* test-session.c: SmtpClientSession against smtp-sink, aiosmtpd and the
 * scripted server: connection reuse, the pool, pipelining, reconnection,
 * cancellation, dispose, idle timeout
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every task in every test is checked to end in exactly one signal, and
 * its send_async callback to agree with that signal.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-utils.h"

/* Waits for many tasks get more time than one (valgrind, 1000 tasks) */
#define BATCH_WAIT_SECONDS (4 * SMTP_TEST_WAIT_SECONDS)

/* ---------------------------------------------------------------------- */
/* A batch of tasks and what became of each */

typedef struct _Batch Batch;

typedef struct
{
  Batch          *batch;
  guint           index;
  SmtpClientTask *task;
  GCancellable   *cancellable;
  guint           succeeded;   /* signal emissions */
  guint           failed;
  guint           returned;    /* send_async callbacks */
  gboolean        finish_ok;
  GError         *error;
  char           *log;
} Record;

typedef void (*RecordFunc) (Record  *record,
                            gpointer user_data);

struct _Batch
{
  GPtrArray *records;          /* of Record* */
  guint      ended;            /* records with a signal */
  guint      returned;         /* records with a callback */
  RecordFunc on_end;           /* called after each signal */
  gpointer   on_end_data;
  guint      sample_port;      /* count connections to it while waiting */
  guint      max_connections;  /* the most seen at once */
};

static void
record_free (Record *record)
{
  g_clear_object (&record->task);
  g_clear_object (&record->cancellable);
  g_clear_error (&record->error);
  g_free (record->log);
  g_free (record);
}

static Batch *
batch_new (void)
{
  Batch *batch = g_new0 (Batch, 1);

  batch->records = g_ptr_array_new_with_free_func ((GDestroyNotify) record_free);
  return batch;
}

static void
batch_free (Batch *batch)
{
  g_ptr_array_unref (batch->records);
  g_free (batch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Batch, batch_free)

static void
record_ended (Record     *record,
              const char *log)
{
  /* Exactly one signal per task */
  g_assert_cmpuint (record->succeeded + record->failed, ==, 1);
  g_assert_cmpuint (record->returned, ==, 0);
  record->log = g_strdup (log);
  record->batch->ended++;
  if (record->batch->on_end != NULL)
    record->batch->on_end (record, record->batch->on_end_data);
}

static void
on_succeeded (SmtpClientTask *task,
              GVariant       *context,
              const char     *log,
              gpointer        user_data)
{
  Record *record = user_data;

  record->succeeded++;
  record_ended (record, log);
}

static void
on_failed (SmtpClientTask *task,
           GVariant       *context,
           const GError   *error,
           const char     *log,
           gpointer        user_data)
{
  Record *record = user_data;

  g_assert_nonnull (error);
  record->failed++;
  record->error = g_error_copy (error);
  record_ended (record, log);
}

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Record *record = user_data;
  g_autoptr(GError) error = NULL;

  record->finish_ok = smtp_client_task_send_finish (SMTP_CLIENT_TASK (source),
                                                    result, &error);
  record->returned++;
  record->batch->returned++;

  /* The callback comes after the signal, and agrees with it */
  g_assert_cmpuint (record->returned, ==, 1);
  g_assert_cmpuint (record->succeeded + record->failed, ==, 1);
  g_assert_cmpint (record->finish_ok, ==, record->succeeded == 1);
  if (!record->finish_ok)
    g_assert_true (g_error_matches (error, record->error->domain,
                                    record->error->code));
}

/* Add @task (taken) to @batch and send it */
static Record *
batch_send (Batch          *batch,
            SmtpClientTask *task,
            GCancellable   *cancellable)
{
  Record *record = g_new0 (Record, 1);

  record->batch = batch;
  record->index = batch->records->len;
  record->task = task;
  record->cancellable = cancellable != NULL ? g_object_ref (cancellable) : NULL;
  g_ptr_array_add (batch->records, record);

  g_signal_connect (task, "succeeded", G_CALLBACK (on_succeeded), record);
  g_signal_connect (task, "failed", G_CALLBACK (on_failed), record);
  smtp_client_task_send_async (task, cancellable, on_sent, record);

  return record;
}

static Record *
batch_get (Batch *batch,
           guint  index)
{
  return g_ptr_array_index (batch->records, index);
}

static gboolean
on_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
on_deadline (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Iterate the main context until every task has ended and returned
 * (bounded), counting connections after each iteration if asked to */
static void
batch_wait (Batch *batch)
{
  g_autoptr(GSource) deadline = NULL;
  gboolean expired = FALSE;

  deadline = g_timeout_source_new_seconds (BATCH_WAIT_SECONDS);
  g_source_set_callback (deadline, on_deadline, &expired, NULL);
  g_source_attach (deadline, NULL);

  while (batch->returned < batch->records->len && !expired)
    {
      g_main_context_iteration (NULL, TRUE);
      if (batch->sample_port != 0)
        {
          guint now = smtp_test_count_connections (batch->sample_port);

          batch->max_connections = MAX (batch->max_connections, now);
        }
    }
  g_source_destroy (deadline);

  if (expired)
    g_error ("%u of %u tasks ended within %d s", batch->ended,
             batch->records->len, BATCH_WAIT_SECONDS);

  for (guint i = 0; i < batch->records->len; i++)
    {
      Record *record = batch_get (batch, i);

      g_assert_cmpuint (record->succeeded + record->failed, ==, 1);
      g_assert_cmpuint (record->returned, ==, 1);
    }
}

static guint
batch_count_succeeded (Batch *batch)
{
  guint n = 0;

  for (guint i = 0; i < batch->records->len; i++)
    n += batch_get (batch, i)->succeeded;

  return n;
}

static void
batch_assert_all_succeeded (Batch *batch)
{
  for (guint i = 0; i < batch->records->len; i++)
    {
      Record *record = batch_get (batch, i);

      if (record->failed)
        g_error ("task %u failed: %s\nlog:\n%s", i, record->error->message,
                 record->log != NULL ? record->log : "(none)");
    }
}

/* How many tasks opened a connection: their log holds the set-up */
static guint
batch_count_openers (Batch *batch)
{
  guint n = 0;

  for (guint i = 0; i < batch->records->len; i++)
    {
      const char *log = batch_get (batch, i)->log;

      g_assert_nonnull (log);
      if (strstr (log, "-> EHLO ") != NULL)
        n++;
    }

  return n;
}

/* ---------------------------------------------------------------------- */
/* Sessions */

#define sink_start smtp_test_server_start_sink_counted

static SmtpClientSession *
session_new (guint port)
{
  return g_object_new (SMTP_CLIENT_TYPE_SESSION,
                       "server", "127.0.0.1",
                       "port", port,
                       "timeout", 10,
                       "max-retries", 0,
                       NULL);
}

/* A task for @session; @body NULL for the default one */
static SmtpClientTask *
session_task_new (SmtpClientSession *session,
                  guint              port,
                  const char        *body)
{
  SmtpClientTask *task = smtp_test_task_new (port, body);

  g_object_set (task, "session", session, "transaction-log", TRUE, NULL);
  return task;
}

/* Waits (bounded, running the main context) until @n connections to
 * @port are established */
static void
wait_for_connections (guint port,
                      guint n)
{
  g_autoptr(GSource) deadline = NULL;
  g_autoptr(GSource) tick = NULL;
  gboolean expired = FALSE;

  deadline = g_timeout_source_new_seconds (SMTP_TEST_WAIT_SECONDS);
  g_source_set_callback (deadline, on_deadline, &expired, NULL);
  g_source_attach (deadline, NULL);
  /* Look again every 10 ms */
  tick = g_timeout_source_new (10);
  g_source_set_callback (tick, G_SOURCE_FUNC (on_tick),
                         NULL, NULL);
  g_source_attach (tick, NULL);

  while (smtp_test_count_connections (port) != n && !expired)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (tick);
  g_source_destroy (deadline);

  if (expired)
    g_error ("%u connections to port %u after %d s (waited for %u)",
             smtp_test_count_connections (port), port,
             SMTP_TEST_WAIT_SECONDS, n);
}

/* Sends @n default messages through @session and waits for them */
static void
send_many (Batch             *batch,
           SmtpClientSession *session,
           guint              port,
           guint              n)
{
  for (guint i = 0; i < n; i++)
    batch_send (batch, session_task_new (session, port, NULL), NULL);
  batch_wait (batch);
}

/* ---------------------------------------------------------------------- */
/* Reuse and the pool */

static void
test_sink_one_connection (gconstpointer data)
{
  const char *option = data;
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;
  guint port;

  g_test_summary ("200 tasks go over one connection: the server counts one "
                  "session, one QUIT and 200 messages");

  server = sink_start (option, NULL);
  port = smtp_test_server_get_port (server);
  session = session_new (port);
  send_many (batch, session, port, 200);
  batch_assert_all_succeeded (batch);
  g_assert_cmpuint (batch_count_openers (batch), ==, 1);

  /* Closing waits for the answer to QUIT, which smtp-sink counts first */
  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 1, 200, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 1);
  g_assert_cmpuint (quits, ==, 1);
  g_assert_cmpuint (messages, ==, 200);
}

static void
test_aiosmtpd_one_connection (gconstpointer data)
{
  gboolean pipelining = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GHashTable) expected = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                          g_free, NULL);
  GPtrArray *messages;
  guint port;

  g_test_summary ("200 tasks through one session reach aiosmtpd intact, "
                  "each once, over one connection");

  server = pipelining ? smtp_test_server_start_aiosmtpd ("--advertise",
                                                         "PIPELINING", NULL)
                      : smtp_test_server_start_aiosmtpd (NULL);
  port = smtp_test_server_get_port (server);
  session = session_new (port);

  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *body = g_strdup_printf ("Subject: %u\r\n\r\n"
                                               "message %u\r\n.dot %u\r\n",
                                               i, i, i);

      g_hash_table_add (expected, g_strdup (body));
      batch_send (batch, session_task_new (session, port, body), NULL);
    }
  batch_wait (batch);
  batch_assert_all_succeeded (batch);
  g_assert_cmpuint (batch_count_openers (batch), ==, 1);
  smtp_test_close_session (session);

  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 200);
  for (guint i = 0; i < messages->len; i++)
    {
      SmtpTestMessage *message = g_ptr_array_index (messages, i);
      gsize size = 0;
      const char *content = g_bytes_get_data (message->content, &size);
      g_autofree char *text = g_strndup (content, size);

      /* Each body arrived once, exactly as sent */
      g_assert_true (g_hash_table_remove (expected, text));
      g_assert_cmpstr (message->rcpt_tos[0], ==, "rcpt@example.org");
    }
  g_assert_cmpuint (g_hash_table_size (expected), ==, 0);
}

static void
test_max_connections (void)
{
  g_autoptr(SmtpTestServer) server = sink_start (NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;

  g_test_summary ("With max-connections 4, 100 tasks use 4 connections, "
                  "never more at once");

  g_object_set (session, "max-connections", 4, NULL);
  batch->sample_port = port;
  send_many (batch, session, port, 100);
  batch_assert_all_succeeded (batch);

  g_assert_cmpuint (batch->max_connections, <=, 4);
  g_assert_cmpuint (batch_count_openers (batch), ==, 4);

  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 4, 100, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 4);
  g_assert_cmpuint (quits, ==, 4);
  g_assert_cmpuint (messages, ==, 100);
}

static void
test_max_messages_per_connection (void)
{
  g_autoptr(SmtpTestServer) server = sink_start (NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;

  g_test_summary ("max-messages-per-connection 3: ten messages take four "
                  "connections, each closed with QUIT");

  g_object_set (session, "max-messages-per-connection", 3, NULL);
  batch->sample_port = port;
  send_many (batch, session, port, 10);
  batch_assert_all_succeeded (batch);
  g_assert_cmpuint (batch->max_connections, <=, 1);
  g_assert_cmpuint (batch_count_openers (batch), ==, 4);

  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 4, 10, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 4);
  g_assert_cmpuint (quits, ==, 4);
  g_assert_cmpuint (messages, ==, 10);
}

static void
test_thousand_queued (void)
{
  g_autoptr(SmtpTestServer) server = sink_start (NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;

  g_test_summary ("1,000 tasks queued at once on one session all complete");

  g_object_set (session, "max-connections", 2, NULL);
  send_many (batch, session, port, 1000);
  batch_assert_all_succeeded (batch);

  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 2, 1000, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 2);
  g_assert_cmpuint (messages, ==, 1000);
}

static void
test_tls_one_connection (gconstpointer data)
{
  gboolean implicit = GPOINTER_TO_INT (data);
  g_autofree char *pem = smtp_test_cert_path ("server.pem");
  g_autofree char *key = smtp_test_cert_path ("server.key");
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(Batch) batch = batch_new ();
  guint port;

  g_test_summary ("Over TLS (STARTTLS or implicit), pipelined tasks go over "
                  "one connection and all arrive");

  server = smtp_test_server_start_aiosmtpd ("--tls-cert", pem,
                                            "--tls-key", key,
                                            implicit ? "--implicit-tls"
                                                     : "--require-starttls",
                                            "--advertise", "PIPELINING",
                                            NULL);
  port = smtp_test_server_get_port (server);
  session = g_object_new (SMTP_CLIENT_TYPE_SESSION,
                          "server", "localhost",
                          "port", port,
                          "timeout", 10,
                          "security", implicit ? SMTP_CLIENT_SECURITY_TLS
                                               : SMTP_CLIENT_SECURITY_STARTTLS,
                          "tls-database", database,
                          NULL);

  send_many (batch, session, port, 50);
  batch_assert_all_succeeded (batch);
  g_assert_cmpuint (batch_count_openers (batch), ==, 1);
  smtp_test_close_session (session);
  g_assert_cmpuint (smtp_test_server_get_messages (server)->len, ==, 50);
}

/* ---------------------------------------------------------------------- */
/* Pipelining */

static void
test_end_of_data_grouped (void)
{
  /* The second envelope must arrive before the server answers the first
   * message's end of data: a client that waited would stall here until
   * its timeout, and the script would fail. */
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_script (
    "S 220 scripted ESMTP\n"
    "C EHLO *\n"
    "S 250-scripted\n"
    "S 250 PIPELINING\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.0.0 first\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "S 250 2.0.0 second\n"
    "C QUIT\n"
    "S 221 bye\n");
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GBytes) transcript = NULL;
  gboolean script_ok = FALSE;

  g_test_summary ("RFC 2920 §3.1: the next message's MAIL, RCPT and DATA go "
                  "out with the end of the previous message's data");

  send_many (batch, session, port, 2);
  batch_assert_all_succeeded (batch);
  g_assert_cmpstr (smtp_client_task_get_reply (batch_get (batch, 0)->task),
                   ==, "250 2.0.0 first");
  g_assert_cmpstr (smtp_client_task_get_reply (batch_get (batch, 1)->task),
                   ==, "250 2.0.0 second");

  /* Each task's log holds its own transaction */
  g_assert_nonnull (strstr (batch_get (batch, 0)->log, "<- 250 2.0.0 first"));
  g_assert_null (strstr (batch_get (batch, 0)->log, "second"));
  g_assert_nonnull (strstr (batch_get (batch, 1)->log, "<- 250 2.0.0 second"));
  g_assert_null (strstr (batch_get (batch, 1)->log, "first"));

  smtp_test_close_session (session);
  transcript = smtp_test_server_get_transcript (server, &script_ok);
  g_assert_true (script_ok);
}

static void
test_refused_recipients_pipelined (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (
    "--advertise", "PIPELINING", "--refuse-rcpt", "bad@example.org", NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  const char *mixed[] = { "good1@example.org", "bad@example.org",
                          "good2@example.org", NULL };
  const char *only_bad[] = { "bad@example.org", NULL };
  const char *good[] = { "good3@example.org", NULL };
  SmtpClientTask *task;
  Record *strict, *allowed, *none, *fine;
  const char * const *refused;
  GPtrArray *messages;
  SmtpTestMessage *message;

  g_test_summary ("A refused RCPT inside a pipelined group follows the "
                  "refused-recipients policy both ways; the session carries "
                  "on, over a new connection when the strict policy had to "
                  "drop one");

  task = session_task_new (session, port, NULL);
  g_object_set (task, "to", mixed, NULL);
  strict = batch_send (batch, task, NULL);

  task = session_task_new (session, port, NULL);
  g_object_set (task, "to", mixed, "allow-refused-recipients", TRUE, NULL);
  allowed = batch_send (batch, task, NULL);

  task = session_task_new (session, port, NULL);
  g_object_set (task, "to", only_bad, "allow-refused-recipients", TRUE, NULL);
  none = batch_send (batch, task, NULL);

  task = session_task_new (session, port, NULL);
  g_object_set (task, "to", good, NULL);
  fine = batch_send (batch, task, NULL);

  batch_wait (batch);

  /* Strict: fails naming the refused address; nothing delivered.  DATA
   * was answered 354 for the others: only dropping the connection stops
   * the message (RFC 2920 §3.1). */
  g_assert_error (strict->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (strict->error->message, "bad@example.org"));
  g_assert_cmpuint (smtp_client_task_get_reply_code (strict->task), ==, 550);
  refused = smtp_client_task_get_refused_recipients (strict->task);
  g_assert_nonnull (refused);
  g_assert_cmpstr (refused[0], ==, "bad@example.org");
  g_assert_null (refused[1]);
  g_assert_nonnull (strstr (strict->log, "<- 354"));
  g_assert_null (strstr (strict->log, "[message:"));

  /* Allowed: delivered to the others */
  g_assert_cmpuint (allowed->succeeded, ==, 1);
  refused = smtp_client_task_get_refused_recipients (allowed->task);
  g_assert_cmpstr (refused[0], ==, "bad@example.org");
  g_assert_null (refused[1]);

  /* Allowed, but nobody accepted: fails; DATA is refused, RSET, and the
   * connection goes on */
  g_assert_error (none->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_null (strstr (none->log, "[message:"));
  g_assert_nonnull (strstr (none->log, "-> RSET"));

  g_assert_cmpuint (fine->succeeded, ==, 1);

  /* The dropped connection, and the one for the others */
  g_assert_cmpuint (batch_count_openers (batch), ==, 2);
  smtp_test_close_session (session);

  messages = smtp_test_server_get_messages (server);
  g_assert_cmpuint (messages->len, ==, 2);
  message = g_ptr_array_index (messages, 0);
  g_assert_cmpuint (g_strv_length (message->rcpt_tos), ==, 2);
  g_assert_true (g_strv_contains ((const char * const *) message->rcpt_tos,
                                  "good1@example.org"));
  g_assert_true (g_strv_contains ((const char * const *) message->rcpt_tos,
                                  "good2@example.org"));
  message = g_ptr_array_index (messages, 1);
  g_assert_cmpstr (message->rcpt_tos[0], ==, "good3@example.org");
}

static void
test_refused_recipients_sink (gconstpointer data)
{
  gboolean allow = GPOINTER_TO_INT (data);
  /* -f RCPT refuses every RCPT (and turns PIPELINING off) */
  g_autoptr(SmtpTestServer) server = sink_start ("-f", "RCPT", NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;

  g_test_summary ("Refused recipients fail each task with SERVER, with "
                  "either policy, and the connection is reset and reused");

  for (guint i = 0; i < 5; i++)
    {
      SmtpClientTask *task = session_task_new (session, port, NULL);

      g_object_set (task, "allow-refused-recipients", allow, NULL);
      batch_send (batch, task, NULL);
    }
  batch_wait (batch);

  for (guint i = 0; i < 5; i++)
    {
      Record *record = batch_get (batch, i);

      g_assert_error (record->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_cmpuint (smtp_client_task_get_reply_code (record->task) / 100,
                        ==, 5);
      g_assert_nonnull (strstr (record->log, "-> RSET"));
    }
  g_assert_cmpuint (batch_count_openers (batch), ==, 1);

  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 1, 0, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 1);
  g_assert_cmpuint (messages, ==, 0);
}

/* ---------------------------------------------------------------------- */
/* Reconnection */

static void
test_reconnect_421 (void)
{
  g_autoptr(SmtpTestServer) server = sink_start ("-Q", "MAIL", NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;

  g_test_summary ("smtp-sink -Q MAIL: each task, in flight when the 421 "
                  "comes, fails with it; the queued ones go on over a new "
                  "connection each");

  send_many (batch, session, port, 5);
  for (guint i = 0; i < 5; i++)
    {
      Record *record = batch_get (batch, i);

      g_assert_error (record->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_cmpuint (smtp_client_task_get_reply_code (record->task), ==, 421);
    }
  g_assert_cmpuint (batch_count_openers (batch), ==, 5);

  smtp_test_server_wait_sink_counters (server, 5, 0, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 5);
  g_assert_cmpuint (messages, ==, 0);
  smtp_test_close_session (session);
}

static void
test_reconnect_disconnect (void)
{
  g_autoptr(SmtpTestServer) server = sink_start ("-q", ".", NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  guint sessions, quits, messages;

  g_test_summary ("smtp-sink -q .: the server hangs up at each end of data; "
                  "that task fails with a GIO error, the others are not "
                  "lost and go out over new connections");

  send_many (batch, session, port, 5);
  for (guint i = 0; i < 5; i++)
    {
      Record *record = batch_get (batch, i);

      g_assert_true (record->error->domain == G_IO_ERROR);
      /* It failed in flight: its content had gone out */
      if (strstr (record->log, "[message:") == NULL)
        g_error ("task %u: %s\n%s", i, record->error->message, record->log);
    }
  g_assert_cmpuint (batch_count_openers (batch), ==, 5);

  smtp_test_server_wait_sink_counters (server, 5, 0, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 5);
  smtp_test_close_session (session);
}

/* The first connection ends (@ending: CLOSE, or a 421 and CLOSE) after the
 * first message's data, with the second message's envelope pipelined
 * behind it; the second connection carries the other two. */
static void
test_reconnect_scripted (gconstpointer data)
{
  const char *ending = data;
  g_autofree char *script = g_strconcat (
    "S 220 scripted ESMTP\n"
    "C EHLO *\n"
    "S 250-scripted\n"
    "S 250 PIPELINING\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n",
    ending,
    "ACCEPT\n"
    "S 220 scripted ESMTP\n"
    "C EHLO *\n"
    "S 250-scripted\n"
    "S 250 PIPELINING\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.0.0 second\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "S 250 2.0.0 third\n"
    "C QUIT\n"
    "S 221 bye\n", NULL);
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_script (script);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GBytes) transcript = NULL;
  gboolean script_ok = FALSE;
  Record *first;

  g_test_summary ("The connection drops after a message's data: that task "
                  "fails with its error; the next one, whose commands were "
                  "pipelined behind it, and the queued one succeed over a "
                  "new connection");

  for (guint i = 1; i <= 3; i++)
    {
      g_autofree char *body = g_strdup_printf ("Subject: %u\n\nbody\n", i);

      batch_send (batch, session_task_new (session, port, body), NULL);
    }
  batch_wait (batch);

  first = batch_get (batch, 0);
  g_assert_cmpuint (first->failed, ==, 1);
  if (g_str_has_prefix (ending, "S 421"))
    {
      g_assert_error (first->error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_cmpuint (smtp_client_task_get_reply_code (first->task), ==, 421);
    }
  else
    {
      g_assert_true (first->error->domain == G_IO_ERROR);
    }
  g_assert_cmpuint (batch_get (batch, 1)->succeeded, ==, 1);
  g_assert_cmpstr (smtp_client_task_get_reply (batch_get (batch, 1)->task),
                   ==, "250 2.0.0 second");
  g_assert_cmpuint (batch_get (batch, 2)->succeeded, ==, 1);
  g_assert_cmpstr (smtp_client_task_get_reply (batch_get (batch, 2)->task),
                   ==, "250 2.0.0 third");

  smtp_test_close_session (session);
  transcript = smtp_test_server_get_transcript (server, &script_ok);
  g_assert_true (script_ok);
}

static void
test_reconnect_idle_drop (gconstpointer data)
{
  const char *ending = data;
  g_autofree char *script = g_strconcat (
    "S 220 scripted ESMTP\n"
    "C EHLO *\n"
    "S 250-scripted\n"
    "S 250 PIPELINING\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "S 250 2.0.0 first\n",
    ending,
    "ACCEPT\n"
    "S 220 scripted ESMTP\n"
    "C EHLO *\n"
    "S 250-scripted\n"
    "S 250 PIPELINING\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "S 250 2.0.0 second\n"
    "C QUIT\n"
    "S 221 bye\n", NULL);
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_script (script);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) first = batch_new ();
  g_autoptr(Batch) second = batch_new ();
  g_autoptr(GBytes) transcript = NULL;
  gboolean script_ok = FALSE;

  g_test_summary ("The server drops an idle connection (or says 421 and "
                  "drops it): the next task goes out over a new one and "
                  "succeeds");

  send_many (first, session, port, 1);
  batch_assert_all_succeeded (first);

  /* Once the server's end of the connection is closed, whatever it said
   * before is here: no longer established from this side either */
  wait_for_connections (port, 0);

  send_many (second, session, port, 1);
  batch_assert_all_succeeded (second);
  g_assert_cmpstr (smtp_client_task_get_reply (batch_get (second, 0)->task),
                   ==, "250 2.0.0 second");
  /* It opened the new connection */
  g_assert_cmpuint (batch_count_openers (second), ==, 1);

  smtp_test_close_session (session);
  transcript = smtp_test_server_get_transcript (server, &script_ok);
  g_assert_true (script_ok);
}

/* ---------------------------------------------------------------------- */
/* Cancellation and dispose */

static void
test_cancel_queued (void)
{
  g_autoptr(SmtpTestServer) server = sink_start (NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  guint sessions, quits, messages;
  Record *cancelled = NULL;

  g_test_summary ("Cancelling a queued task fails that one task with "
                  "G_IO_ERROR_CANCELLED; the others are delivered");

  for (guint i = 0; i < 6; i++)
    {
      Record *record = batch_send (batch, session_task_new (session, port, NULL),
                                   i == 3 ? cancellable : NULL);

      if (i == 3)
        cancelled = record;
    }
  g_cancellable_cancel (cancellable);
  batch_wait (batch);

  for (guint i = 0; i < 6; i++)
    {
      Record *record = batch_get (batch, i);

      if (record == cancelled)
        g_assert_error (record->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      else
        g_assert_cmpuint (record->succeeded, ==, 1);
    }

  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 1, 5, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (sessions, ==, 1);
  g_assert_cmpuint (messages, ==, 5);
}

static void
cancel_fourth (Record  *record,
               gpointer user_data)
{
  GCancellable *cancellable = user_data;

  if (record->index == 0)
    g_cancellable_cancel (cancellable);
}

static void
test_cancel_pipelined (void)
{
  g_autoptr(SmtpTestServer) server = sink_start (NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  guint sessions, quits, messages;

  g_test_summary ("Cancelling a task that may already be on the wire "
                  "behind others fails only that task; nothing of it is "
                  "delivered");

  batch->on_end = cancel_fourth;
  batch->on_end_data = cancellable;
  for (guint i = 0; i < 8; i++)
    batch_send (batch, session_task_new (session, port, NULL),
                i == 3 ? cancellable : NULL);
  batch_wait (batch);

  for (guint i = 0; i < 8; i++)
    {
      Record *record = batch_get (batch, i);

      if (i == 3)
        {
          g_assert_error (record->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          g_assert_null (strstr (record->log, "[message:"));
          g_test_message ("cancelled task log:\n%s", record->log);
        }
      else
        {
          g_assert_cmpuint (record->succeeded, ==, 1);
        }
    }

  smtp_test_close_session (session);
  smtp_test_server_wait_sink_counters (server, 1, 7, &sessions, &quits,
                                       &messages);
  g_assert_cmpuint (messages, ==, 7);
}

static void
dispose_session (Record  *record,
                 gpointer user_data)
{
  SmtpClientSession *session = user_data;

  if (record->index == 0)
    g_object_run_dispose (G_OBJECT (session));
}

static void
test_dispose (gconstpointer data)
{
  gboolean aiosmtpd = GPOINTER_TO_INT (data);
  g_autoptr(SmtpTestServer) server = NULL;
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(SmtpClientTask) late = NULL;
  g_autoptr(GError) error = NULL;
  guint port;
  guint succeeded;

  g_test_summary ("Disposing the session with tasks queued and in flight: "
                  "every task ends in exactly one signal, those that did "
                  "not make it with G_IO_ERROR_CANCELLED");

  server = aiosmtpd ? smtp_test_server_start_aiosmtpd ("--advertise",
                                                       "PIPELINING", NULL)
                    : smtp_test_server_start_sink (NULL);
  port = smtp_test_server_get_port (server);
  session = session_new (port);
  g_object_set (session, "max-connections", 2, NULL);

  /* From a task's signal handler: the session goes away under its own
   * callbacks */
  batch->on_end = dispose_session;
  batch->on_end_data = session;
  send_many (batch, session, port, 30);

  succeeded = batch_count_succeeded (batch);
  g_assert_cmpuint (succeeded, >=, 1);
  g_assert_cmpuint (succeeded, <, 30);
  for (guint i = 0; i < 30; i++)
    {
      Record *record = batch_get (batch, i);

      if (record->failed)
        g_assert_error (record->error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    }

  if (aiosmtpd)
    g_assert_cmpuint (smtp_test_server_get_messages (server)->len, >=,
                      succeeded);

  /* A task sent to the disposed session fails the same way */
  late = session_task_new (session, port, NULL);
  g_assert_false (smtp_test_run_task (late, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* ---------------------------------------------------------------------- */
/* Idle timeout and logs */

static void
test_idle_timeout (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_script (
    "S 220 scripted ESMTP\n"
    "C EHLO *\n"
    "S 250-scripted\n"
    "S 250 PIPELINING\n"
    "C MAIL FROM:<sender@example.org>\n"
    "C RCPT TO:<rcpt@example.org>\n"
    "C DATA\n"
    "S 250 2.1.0 Ok\n"
    "S 250 2.1.5 Ok\n"
    "S 354 go ahead\n"
    "CDATA\n"
    "S 250 2.0.0 queued\n"
    "C QUIT\n"
    "S 221 bye\n"
    "EXPECT-CLOSE\n");
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GBytes) transcript = NULL;
  gboolean script_ok = FALSE;

  g_test_summary ("An idle connection is closed with QUIT after "
                  "idle-timeout seconds, without close_async");

  g_object_set (session, "idle-timeout", 1, NULL);
  send_many (batch, session, port, 1);
  batch_assert_all_succeeded (batch);

  /* Waits (bounded) for the script to end, running the main context */
  transcript = smtp_test_server_get_transcript (server, &script_ok);
  g_assert_true (script_ok);
  g_assert_nonnull (g_strstr_len (g_bytes_get_data (transcript, NULL),
                                  g_bytes_get_size (transcript), "QUIT\r\n"));
}

static void
test_transaction_logs (void)
{
  g_autoptr(SmtpTestServer) server = smtp_test_server_start_aiosmtpd (
    "--advertise", "PIPELINING", NULL);
  guint port = smtp_test_server_get_port (server);
  g_autoptr(SmtpClientSession) session = session_new (port);
  g_autoptr(Batch) batch = batch_new ();

  g_test_summary ("With a session, a task's log holds its own transaction, "
                  "and the connection set-up when it opened the connection");

  for (guint i = 0; i < 4; i++)
    {
      SmtpClientTask *task = session_task_new (session, port, NULL);
      g_autofree char *from = g_strdup_printf ("sender-%u@example.org", i);

      g_object_set (task, "from", from, NULL);
      batch_send (batch, task, NULL);
    }
  batch_wait (batch);
  batch_assert_all_succeeded (batch);

  for (guint i = 0; i < 4; i++)
    {
      const char *log = batch_get (batch, i)->log;
      g_autofree char *own = g_strdup_printf ("-> MAIL FROM:<sender-%u@", i);
      g_auto(GStrv) lines = g_strsplit (log, "\n", -1);
      guint mails = 0;
      guint summaries = 0;

      for (guint j = 0; lines[j] != NULL; j++)
        {
          g_assert_true (g_str_has_prefix (lines[j], "<- ") ||
                         g_str_has_prefix (lines[j], "-> ") ||
                         g_str_has_prefix (lines[j], "-- "));
          if (g_str_has_prefix (lines[j], "-> MAIL FROM:"))
            {
              g_assert_true (g_str_has_prefix (lines[j], own));
              mails++;
            }
          if (g_str_has_prefix (lines[j], "-> [message: "))
            summaries++;
        }
      g_assert_cmpuint (mails, ==, 1);
      g_assert_cmpuint (summaries, ==, 1);
      g_assert_nonnull (strstr (log, "<- 354"));
      g_assert_null (strstr (log, "QUIT"));

      if (i == 0)
        {
          g_assert_true (g_str_has_prefix (log, "<- 220"));
          g_assert_nonnull (strstr (log, "-> EHLO "));
        }
      else
        {
          g_assert_null (strstr (log, "<- 220"));
          g_assert_null (strstr (log, "EHLO"));
          g_assert_true (g_str_has_prefix (log, own));
        }
    }

  smtp_test_close_session (session);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/smtpclient/session/sink/one-connection", NULL,
                        test_sink_one_connection);
  g_test_add_data_func ("/smtpclient/session/sink/one-connection-no-pipelining",
                        "-p", test_sink_one_connection);
  g_test_add_data_func ("/smtpclient/session/aiosmtpd/one-connection",
                        GINT_TO_POINTER (FALSE), test_aiosmtpd_one_connection);
  g_test_add_data_func ("/smtpclient/session/aiosmtpd/one-connection-pipelined",
                        GINT_TO_POINTER (TRUE), test_aiosmtpd_one_connection);
  g_test_add_data_func ("/smtpclient/session/tls/starttls",
                        GINT_TO_POINTER (FALSE), test_tls_one_connection);
  g_test_add_data_func ("/smtpclient/session/tls/implicit",
                        GINT_TO_POINTER (TRUE), test_tls_one_connection);
  g_test_add_func ("/smtpclient/session/max-connections", test_max_connections);
  g_test_add_func ("/smtpclient/session/max-messages-per-connection",
                   test_max_messages_per_connection);
  g_test_add_func ("/smtpclient/session/thousand-queued", test_thousand_queued);
  g_test_add_func ("/smtpclient/session/pipelining/end-of-data-grouped",
                   test_end_of_data_grouped);
  g_test_add_func ("/smtpclient/session/pipelining/refused-recipients",
                   test_refused_recipients_pipelined);
  g_test_add_data_func ("/smtpclient/session/sink/refused-recipients/strict",
                        GINT_TO_POINTER (FALSE), test_refused_recipients_sink);
  g_test_add_data_func ("/smtpclient/session/sink/refused-recipients/allowed",
                        GINT_TO_POINTER (TRUE), test_refused_recipients_sink);
  g_test_add_func ("/smtpclient/session/reconnect/421", test_reconnect_421);
  g_test_add_func ("/smtpclient/session/reconnect/disconnect",
                   test_reconnect_disconnect);
  g_test_add_data_func ("/smtpclient/session/reconnect/scripted-close",
                        "CLOSE\n", test_reconnect_scripted);
  g_test_add_data_func ("/smtpclient/session/reconnect/scripted-421",
                        "S 421 4.3.2 shutting down\nCLOSE\n",
                        test_reconnect_scripted);
  g_test_add_data_func ("/smtpclient/session/reconnect/idle-close",
                        "CLOSE\n", test_reconnect_idle_drop);
  g_test_add_data_func ("/smtpclient/session/reconnect/idle-421",
                        "S 421 4.4.2 idle timeout\nCLOSE\n",
                        test_reconnect_idle_drop);
  g_test_add_func ("/smtpclient/session/cancel/queued", test_cancel_queued);
  g_test_add_func ("/smtpclient/session/cancel/pipelined", test_cancel_pipelined);
  g_test_add_data_func ("/smtpclient/session/dispose/sink",
                        GINT_TO_POINTER (FALSE), test_dispose);
  g_test_add_data_func ("/smtpclient/session/dispose/aiosmtpd",
                        GINT_TO_POINTER (TRUE), test_dispose);
  g_test_add_func ("/smtpclient/session/idle-timeout", test_idle_timeout);
  g_test_add_func ("/smtpclient/session/transaction-logs", test_transaction_logs);

  return g_test_run ();
}
