/* test-interop-reach.c: CHUNKING (BDAT, pipelined) against a real Postfix
 * and LMTP over a Unix socket against a real Dovecot, each a private
 * instance started by the test (smtpclient-test-mailserver.h).  What the
 * servers stored (Maildir files, compared byte for byte) and logged is
 * checked, not only what the client reports.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With SMTPCLIENT_INTEROP_TRANSCRIPTS=DIR the transaction logs of one
 * pipelined BDAT exchange with Postfix and one LMTP exchange with Dovecot
 * are also written to DIR/transcript-bdat-postfix.txt and
 * DIR/transcript-lmtp-dovecot.txt.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-mailserver.h"
#include "smtpclient-test-utils.h"

#define KB 1024
#define MB (1024 * 1024)

/* A task's or the CLI's whole run: up to 50 MB through Postfix */
#define RUN_WAIT_S 180
#define LOG_WAIT_S 30

/* The servers, started once each by the first test that needs them */
typedef struct
{
  const char         *kind;
  const char         *option;    /* NULL or one launcher option */
  gboolean            tried;
  SmtpTestMailServer *server;
} SharedServer;

static SharedServer postfix = { "postfix", NULL, FALSE, NULL };
/* Delivering over LMTP, not through dovecot-lda */
static SharedServer postfix_lmtp = { "postfix", "--delivery=lmtp", FALSE,
                                     NULL };
static SharedServer postfix_small = { "postfix", "--size=100000", FALSE,
                                      NULL };
static SharedServer dovecot = { "dovecot-lmtp", NULL, FALSE, NULL };

static SmtpTestMailServer *
shared_server (SharedServer *shared)
{
  if (!shared->tried)
    {
      shared->tried = TRUE;
      shared->server = smtp_test_mailserver_start (shared->kind,
                                                   shared->option, NULL);
      return shared->server;
    }
  if (shared->server == NULL)
    g_test_skip ("the mail server could not start here (the first test "
                 "that needed it says why)");
  return shared->server;
}

/* Waiting, bounded */

static gboolean
on_timeout_set_flag (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

static void
iterate_until (const gboolean *done,
               guint           seconds,
               const char     *what)
{
  gboolean timed_out = FALSE;
  GSource *timeout = g_timeout_source_new_seconds (seconds);

  g_source_set_callback (timeout, on_timeout_set_flag, &timed_out, NULL);
  g_source_attach (timeout, NULL);
  while (!*done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  g_source_destroy (timeout);
  g_source_unref (timeout);
  if (!*done)
    g_error ("%s did not finish within %u s", what, seconds);
}

typedef struct
{
  gboolean done;
  gboolean succeeded;
  GError  *error;
} Sent;

static void
on_sent (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Sent *sent = user_data;

  sent->succeeded = smtp_client_task_send_finish (SMTP_CLIENT_TASK (source),
                                                  result, &sent->error);
  sent->done = TRUE;
}

/* Sends @task with its transaction log on and waits (bounded) for the
 * end */
static gboolean
run_task (SmtpClientTask *task,
          GError        **error)
{
  Sent sent = { FALSE, FALSE, NULL };

  g_object_set (task, "transaction-log", TRUE, NULL);
  smtp_client_task_send_async (task, NULL, on_sent, &sent);
  iterate_until (&sent.done, RUN_WAIT_S, "the task");
  if (sent.error != NULL)
    g_propagate_error (error, sent.error);
  return sent.succeeded;
}

/* Deterministic content of exactly @size bytes: headers a Postfix
 * accepts unchanged (so that the stored message ends with it), then
 * lines of 76 characters, some starting with "." (dot-stuffing over DATA),
 * CRLF line ends.  Under 200 bytes: that many "x" */
static GBytes *
make_message (gsize size,
              guint seed)
{
  g_autoptr(GString) text = g_string_sized_new (size);
  guint32 state = seed * 2654435761u + 1;
  static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ";
  guint line = 0;

  if (size < 200)
    {
      for (gsize i = 0; i < size; i++)
        g_string_append_c (text, 'x');
      return g_string_free_to_bytes (g_steal_pointer (&text));
    }
  g_string_append_printf (text,
                          "From: sender@example.org\r\n"
                          "To: user@example.org\r\n"
                          "Subject: libsmtpclient interop, %" G_GSIZE_FORMAT
                          " bytes\r\n"
                          "Date: Sun, 06 Dec 2026 06:00:00 +0000\r\n"
                          "Message-ID: <interop-%u-%" G_GSIZE_FORMAT
                          "@example.org>\r\n"
                          "\r\n", size, seed, size);
  while (text->len < size)
    {
      gsize left = size - text->len;
      gsize length = left <= 78 ? left - 2 : (left == 79 ? 70 : 76);

      for (gsize i = 0; i < length; i++)
        {
          state = state * 1664525u + 1013904223u;
          g_string_append_c (text, i == 0 && line % 7 == 3
                                   ? '.' : alphabet[(state >> 24) % 65]);
        }
      g_string_append (text, "\r\n");
      line++;
    }
  g_assert_cmpuint (text->len, ==, size);
  return g_string_free_to_bytes (g_steal_pointer (&text));
}

/* What goes on the wire for @content: a final CRLF when it lacks one */
static GBytes *
wire_form (GBytes *content)
{
  gsize length;
  const char *data = g_bytes_get_data (content, &length);
  GByteArray *out;

  if (length >= 2 && data[length - 2] == '\r' && data[length - 1] == '\n')
    return g_bytes_ref (content);
  out = g_byte_array_sized_new (length + 2);
  g_byte_array_append (out, (const guint8 *) data, length);
  g_byte_array_append (out, (const guint8 *) "\r\n", 2);
  return g_byte_array_free_to_bytes (out);
}

/* @stored ends with @sent byte for byte: compared as SHA-256 sums of
 * @sent and of the same length at the end of @stored (the server's own
 * header lines come before it) */
static void
assert_stored (SmtpTestMailServer *server,
               GBytes             *stored,
               GBytes             *sent)
{
  gsize stored_length, sent_length;
  const guint8 *stored_data = g_bytes_get_data (stored, &stored_length);
  const guint8 *sent_data = g_bytes_get_data (sent, &sent_length);
  g_autofree char *sent_sum = NULL;
  g_autofree char *stored_sum = NULL;

  g_assert_cmpuint (stored_length, >=, sent_length);
  sent_sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, sent_data,
                                          sent_length);
  stored_sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
                                            stored_data + stored_length
                                            - sent_length, sent_length);
  g_assert_cmpstr (stored_sum, ==, sent_sum);
  g_assert_true (smtp_test_mailserver_stored_is (server, stored, sent));
}

/* Every line of @log that starts with @prefix */
static guint
count_lines (const char *log,
             const char *prefix)
{
  g_auto(GStrv) lines = g_strsplit (log != NULL ? log : "", "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      n++;
  return n;
}

static void
print_and_save_log (SmtpClientTask *task,
                    const char     *file_name)
{
  const char *directory = g_getenv ("SMTPCLIENT_INTEROP_TRANSCRIPTS");
  const char *log = smtp_client_task_get_transaction_log (task);

  smtp_test_print_log (task);
  if (directory != NULL && *directory != '\0')
    {
      g_autofree char *path = g_build_filename (directory, file_name, NULL);
      g_autoptr(GError) error = NULL;
      g_autofree char *text = g_strconcat (log, "\n", NULL);

      g_file_set_contents (path, text, -1, &error);
      g_assert_no_error (error);
      g_test_message ("transcript saved to %s", path);
    }
}

/* Postfix */

#define POSTFIX_USER "user@example.org"

typedef enum
{
  SOURCE_BODY,      /* the body property: size known */
  SOURCE_FILE,      /* message-file: size known, streamed */
  SOURCE_STREAM,    /* input-stream of unknown size: no SIZE= on MAIL */
} Source;

static const char *source_names[] = { "body", "file", "stream" };

static SmtpClientTask *
postfix_task (SmtpTestMailServer *server,
              gboolean            chunking)
{
  const char *to[] = { POSTFIX_USER, NULL };
  SmtpClientTask *task;

  task = smtp_test_task_new (smtp_test_mailserver_get_port (server,
                                                            "smtp_port"),
                             NULL);
  g_object_set (task, "to", to, "chunking", chunking, "timeout", 60, NULL);
  return task;
}

static void
set_content (SmtpClientTask *task,
             GBytes         *content,
             Source          source,
             const char     *name)
{
  switch (source)
    {
    case SOURCE_BODY:
      g_object_set (task, "body", content, NULL);
      break;
    case SOURCE_FILE:
      {
        g_autofree char *path = smtp_test_tmp_path (name);
        g_autoptr(GFile) file = g_file_new_for_path (path);
        g_autoptr(GError) error = NULL;

        g_file_set_contents (path, g_bytes_get_data (content, NULL),
                             g_bytes_get_size (content), &error);
        g_assert_no_error (error);
        g_object_set (task, "message-file", file, NULL);
        break;
      }
    case SOURCE_STREAM:
      {
        g_autoptr(GInputStream) stream =
          g_memory_input_stream_new_from_bytes (content);

        g_object_set (task, "input-stream", stream, NULL);
        break;
      }
    }
}

/* The queue id in Postfix's "250 2.0.0 Ok: queued as ID" */
static char *
queue_id_of (SmtpClientTask *task)
{
  const char *reply = smtp_client_task_get_reply (task);
  const char *id;

  g_assert_nonnull (reply);
  id = strstr (reply, "queued as ");
  g_assert_nonnull (id);
  id += strlen ("queued as ");
  return g_strndup (id, strcspn (id, " \r\n"));
}

/* Postfix's own count of the commands of the smtpd session that received
 * @queue_id, from its log line "postfix/smtpd[PID]: disconnect from ...
 * ehlo=1 mail=1 rcpt=1 bdat=17 quit=1 commands=21" (bounded wait: it is
 * logged when the client has gone) */
static char *
postfix_session_commands (SmtpTestMailServer *server,
                          const char         *queue_id)
{
  g_autofree char *client = g_strdup_printf ("]: %s: client=", queue_id);
  gint64 deadline = g_get_monotonic_time () + LOG_WAIT_S * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *log = smtp_test_mailserver_get_log (server);
      const char *line = log != NULL ? strstr (log, client) : NULL;

      if (line != NULL)
        {
          const char *start = line;
          g_autofree char *smtpd = NULL;
          g_autofree char *disconnect = NULL;
          const char *found;

          while (start > log && start[-1] != '\n')
            start--;
          /* "... postfix/smtpd[PID]" */
          smtpd = g_strndup (strstr (start, "postfix/smtpd["),
                             line + 1 - strstr (start, "postfix/smtpd["));
          disconnect = g_strconcat (smtpd, ": disconnect from ", NULL);
          found = strstr (line, disconnect);
          if (found != NULL)
            {
              found += strlen (disconnect);
              found = strchr (found, ' ');
              g_assert_nonnull (found);
              return g_strndup (found + 1, strcspn (found + 1, "\n"));
            }
        }
      g_usleep (G_USEC_PER_SEC / 10);
    }
  g_error ("Postfix logged no end of the session of %s", queue_id);
}

/* Line numbers in @log: the first that starts with @prefix at or after
 * @from, or -1 */
static int
find_line (GStrv       lines,
           int         from,
           const char *prefix)
{
  for (int i = from; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], prefix))
      return i;
  return -1;
}

/* One message through Postfix to user@example.org: stored byte for byte,
 * over BDAT (pipelined: several chunks on the wire before the first
 * chunk's reply) or DATA as @chunking says, in the client's log and in
 * Postfix's */
static void
send_through_postfix (SmtpTestMailServer *server,
                      gsize               size,
                      Source              source,
                      gboolean            chunking,
                      const char         *transcript)
{
  g_autoptr(GBytes) content = make_message (size, size + 2 * source
                                                  + chunking);
  g_autoptr(GBytes) sent = wire_form (content);
  g_autoptr(SmtpClientTask) task = postfix_task (server, chunking);
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *file_name = NULL;
  g_autofree char *queue_id = NULL;
  g_autofree char *commands = NULL;
  g_autofree char *postfix_log = NULL;
  g_auto(GStrv) lines = NULL;
  const char *log;
  guint chunks = (size + 64 * KB - 1) / (64 * KB);

  g_test_message ("%" G_GSIZE_FORMAT " bytes from %s over %s", size,
                  source_names[source], chunking ? "BDAT" : "DATA");
  before = smtp_test_mailserver_get_messages (server, POSTFIX_USER);
  file_name = g_strdup_printf ("message-%" G_GSIZE_FORMAT ".eml", size);
  set_content (task, content, source, file_name);
  if (!run_task (task, &error))
    smtp_test_print_log (task);
  g_assert_no_error (error);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);
  log = smtp_client_task_get_transaction_log (task);
  smtp_test_assert_log_format (log);
  if (transcript != NULL)
    print_and_save_log (task, transcript);
  else if (size < 2 * MB)
    smtp_test_print_log (task);

  lines = g_strsplit (log, "\n", -1);
  if (chunking)
    {
      /* The content and its BDAT commands are one line in the log,
       * "-> [message: N bytes, K BDAT chunks]"; then a reply per chunk */
      g_autofree char *summary = g_strdup_printf (
        "-> [message: %" G_GSIZE_FORMAT " bytes, ", size);
      int at = find_line (lines, 0, summary);

      g_assert_cmpuint (count_lines (log, "-> DATA"), ==, 0);
      g_assert_cmpint (at, >=, 0);
      g_assert_true (g_str_has_suffix (lines[at],
                                       chunks > 1 ? " BDAT chunks]"
                                                  : " BDAT chunk]"));
      chunks = (guint) g_ascii_strtoull (lines[at] + strlen (summary),
                                         NULL, 10);
      /* (the summary is logged once the last chunk is out, after the
       * replies to the first ones) */
      g_assert_cmpuint (count_lines (log, "<- 250 2.0.0 Ok: "), ==, chunks);
    }
  else
    {
      g_assert_cmpuint (count_lines (log, "-> DATA"), ==, 1);
      g_assert_cmpuint (count_lines (log, "-> BDAT"), ==, 0);
    }

  after = smtp_test_mailserver_wait_messages (server, POSTFIX_USER,
                                              before->len + 1);
  g_assert_cmpuint (after->len, ==, before->len + 1);
  assert_stored (server, after->pdata[before->len], sent);

  queue_id = queue_id_of (task);
  commands = postfix_session_commands (server, queue_id);
  g_test_message ("Postfix counted: %s", commands);
  postfix_log = smtp_test_mailserver_get_log (server);
  g_assert_null (strstr (postfix_log, "improper command pipelining"));
  if (chunking)
    {
      g_assert_nonnull (strstr (commands, " bdat="));
      g_assert_null (strstr (commands, " data="));
    }
  else
    {
      g_assert_nonnull (strstr (commands, " data=1 "));
      g_assert_null (strstr (commands, " bdat="));
    }
}

static void
test_postfix_sizes (gconstpointer data)
{
  gboolean chunking = GPOINTER_TO_INT (data);
  SmtpTestMailServer *server = shared_server (chunking ? &postfix
                                                       : &postfix_lmtp);

  if (server == NULL)
    return;

  send_through_postfix (server, 1, SOURCE_BODY, chunking, NULL);
  send_through_postfix (server, 1 * KB, SOURCE_BODY, chunking, NULL);
  send_through_postfix (server, 1 * MB, SOURCE_BODY, chunking,
                        chunking ? "transcript-bdat-postfix.txt" : NULL);
  send_through_postfix (server, 1 * MB, SOURCE_FILE, chunking, NULL);
  send_through_postfix (server, 50 * MB, SOURCE_FILE, chunking, NULL);
  send_through_postfix (server, 50 * MB, SOURCE_BODY, chunking, NULL);
}

/* Content of unknown size (an input stream: no SIZE= on MAIL FROM) over
 * Postfix's message_size_limit: Postfix refuses it during the BDAT chunks;
 * the task fails with that reply, REFUSED, and nothing is stored */
static void
test_postfix_bdat_refused (void)
{
  SmtpTestMailServer *server = shared_server (&postfix_small);
  g_autoptr(GBytes) content = make_message (20 * MB, 7);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) stored = NULL;
  g_autofree char *log = NULL;
  const char *transaction_log;

  if (server == NULL)
    return;

  task = postfix_task (server, TRUE);
  set_content (task, content, SOURCE_STREAM, NULL);
  g_assert_false (run_task (task, &error));
  smtp_test_print_log (task);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 552);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
  transaction_log = smtp_client_task_get_transaction_log (task);
  g_assert_null (strstr (transaction_log, "SIZE="));
  g_assert_nonnull (strstr (transaction_log, " BDAT chunk"));
  g_assert_cmpuint (count_lines (transaction_log, "-> DATA"), ==, 0);

  /* Postfix says why in its log, and delivers nothing */
  log = smtp_test_mailserver_get_log (server);
  g_assert_nonnull (strstr (log, "BDAT request from localhost[127.0.0.1] "
                                 "exceeds message size limit"));
  g_assert_null (strstr (log, "status=sent"));
  stored = smtp_test_mailserver_get_messages (server, POSTFIX_USER);
  g_assert_cmpuint (stored->len, ==, 0);
}

static void
add_postfix_tests (void)
{
  g_test_add_data_func ("/smtpclient/interop/postfix/bdat/sizes",
                        GINT_TO_POINTER (TRUE), test_postfix_sizes);
  g_test_add_data_func ("/smtpclient/interop/postfix/data/sizes",
                        GINT_TO_POINTER (FALSE), test_postfix_sizes);
  g_test_add_func ("/smtpclient/interop/postfix/bdat/refused-over-size",
                   test_postfix_bdat_refused);
}

/* Dovecot LMTP over its Unix socket */

/* How many messages Dovecot's log says it saved for @address */
static guint
dovecot_saved (SmtpTestMailServer *server,
               const char         *address)
{
  g_autofree char *log = smtp_test_mailserver_get_log (server);
  g_autofree char *who = g_strdup_printf ("lmtp(%s)", address);
  g_auto(GStrv) lines = g_strsplit (log != NULL ? log : "", "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], who) != NULL
        && strstr (lines[i], "saved mail to INBOX") != NULL)
      n++;
  return n;
}

static SmtpClientTask *
lmtp_task (SmtpTestMailServer *server,
           const char * const *to,
           GBytes             *content)
{
  SmtpClientTask *task = smtp_test_task_new (0, NULL);
  const char *socket_path = smtp_test_mailserver_get_string (server,
                                                             "lmtp_socket");

  g_assert_nonnull (socket_path);
  g_object_set (task,
                "server", socket_path,
                "protocol", SMTP_CLIENT_PROTOCOL_LMTP,
                "to", to,
                "body", content,
                "timeout", 60,
                NULL);
  return task;
}

typedef struct
{
  const char *address;
  guint       stored;   /* messages in the Maildir before */
  guint       saved;    /* "saved mail" lines in Dovecot's log before */
} Mailbox;

static void
mailbox_before (SmtpTestMailServer *server,
                Mailbox            *mailbox,
                const char         *address)
{
  g_autoptr(GPtrArray) messages = smtp_test_mailserver_get_messages (server,
                                                                     address);

  mailbox->address = address;
  mailbox->stored = messages->len;
  mailbox->saved = dovecot_saved (server, address);
}

/* @mailbox got @sent (the newest message), and Dovecot logged it */
static void
assert_delivered (SmtpTestMailServer *server,
                  const Mailbox      *mailbox,
                  GBytes             *sent)
{
  g_autoptr(GPtrArray) messages = NULL;

  messages = smtp_test_mailserver_wait_messages (server, mailbox->address,
                                                 mailbox->stored + 1);
  g_assert_cmpuint (messages->len, ==, mailbox->stored + 1);
  assert_stored (server, messages->pdata[mailbox->stored], sent);
  g_assert_cmpuint (dovecot_saved (server, mailbox->address), ==,
                    mailbox->saved + 1);
}

static void
assert_not_delivered (SmtpTestMailServer *server,
                      const Mailbox      *mailbox)
{
  g_autoptr(GPtrArray) messages =
    smtp_test_mailserver_get_messages (server, mailbox->address);

  g_assert_cmpuint (messages->len, ==, mailbox->stored);
  g_assert_cmpuint (dovecot_saved (server, mailbox->address), ==,
                    mailbox->saved);
}

/* Each of three recipients gets a 10 MB message byte for byte; each has
 * its own reply after the end of data */
static void
test_lmtp_recipients (void)
{
  SmtpTestMailServer *server = shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "bob@example.org",
                       "carol@example.org", NULL };
  g_autoptr(GBytes) content = make_message (10 * MB, 10);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  Mailbox mailboxes[3];
  const char *log;

  if (server == NULL)
    return;

  for (guint i = 0; i < 3; i++)
    mailbox_before (server, &mailboxes[i], to[i]);
  task = lmtp_task (server, to, content);
  if (!run_task (task, &error))
    smtp_test_print_log (task);
  g_assert_no_error (error);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
  log = smtp_client_task_get_transaction_log (task);
  smtp_test_assert_log_format (log);
  g_assert_cmpuint (count_lines (log, "-> LHLO "), ==, 1);
  g_assert_cmpuint (count_lines (log, "-> EHLO"), ==, 0);

  for (guint i = 0; i < 3; i++)
    {
      const char *reply = smtp_client_task_get_recipient_reply (task, to[i]);
      g_autofree char *named = g_strdup_printf ("<%s>", to[i]);

      /* Dovecot's reply after the data: "250 2.0.0 <rcpt> ID Saved" */
      g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (task,
                                                                   to[i]),
                        ==, 250);
      g_assert_nonnull (reply);
      g_assert_nonnull (strstr (reply, named));
      g_assert_nonnull (strstr (reply, "Saved"));
      assert_delivered (server, &mailboxes[i], content);
    }
}

/* An unknown recipient, refused at RCPT: by default the task fails naming
 * it, and nobody gets the message */
static void
test_lmtp_unknown_refused (void)
{
  SmtpTestMailServer *server = shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "nobody@example.org",
                       "bob@example.org", NULL };
  g_autoptr(GBytes) content = make_message (1 * KB, 11);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *refused;
  Mailbox alice, bob;

  if (server == NULL)
    return;

  mailbox_before (server, &alice, "alice@example.org");
  mailbox_before (server, &bob, "bob@example.org");
  task = lmtp_task (server, to, content);
  g_assert_false (run_task (task, &error));
  smtp_test_print_log (task);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_nonnull (strstr (error->message, "nobody@example.org"));
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (
                      task, "nobody@example.org"), ==, 550);
  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_cmpstrv (refused, ((const char * const[]) {
                                "nobody@example.org", NULL }));
  g_assert_cmpuint (count_lines (smtp_client_task_get_transaction_log (task),
                                 "-> RSET"), <=, 1);

  assert_not_delivered (server, &alice);
  assert_not_delivered (server, &bob);
}

/* With allow-refused-recipients the others get it; each recipient's reply
 * is Dovecot's: the 550 to RCPT for the unknown one, the replies after
 * the data for the others */
static void
test_lmtp_unknown_allowed (void)
{
  SmtpTestMailServer *server = shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "nobody@example.org",
                       "bob@example.org", NULL };
  g_autoptr(GBytes) content = make_message (1 * KB, 12);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *refused;
  Mailbox alice, bob;

  if (server == NULL)
    return;

  mailbox_before (server, &alice, "alice@example.org");
  mailbox_before (server, &bob, "bob@example.org");
  task = lmtp_task (server, to, content);
  g_object_set (task, "allow-refused-recipients", TRUE, NULL);
  g_assert_true (run_task (task, &error));
  g_assert_no_error (error);
  print_and_save_log (task, "transcript-lmtp-dovecot.txt");
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);

  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (
                      task, "nobody@example.org"), ==, 550);
  g_assert_nonnull (strstr (smtp_client_task_get_recipient_reply (
                              task, "nobody@example.org"),
                            "doesn't exist"));
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (
                      task, "alice@example.org"), ==, 250);
  g_assert_nonnull (strstr (smtp_client_task_get_recipient_reply (
                              task, "alice@example.org"), "Saved"));
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (
                      task, "bob@example.org"), ==, 250);
  refused = smtp_client_task_get_refused_recipients (task);
  g_assert_cmpstrv (refused, ((const char * const[]) {
                                "nobody@example.org", NULL }));

  assert_delivered (server, &alice, content);
  assert_delivered (server, &bob, content);
}

typedef struct
{
  gboolean done;
  char    *output;
  char    *errors;
  GError  *error;
} Communicated;

static void
on_communicated (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Communicated *comm = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result,
                                        &comm->output, &comm->errors,
                                        &comm->error);
  comm->done = TRUE;
}

/* smtpclient-send --lmtp --server SOCKET: a 1 MB message from a file to
 * two mailboxes, its log on stderr */
static void
test_lmtp_cli (void)
{
  SmtpTestMailServer *server = shared_server (&dovecot);
  g_autoptr(GBytes) content = make_message (1 * MB, 13);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = smtp_test_tmp_path ("cli-lmtp.eml");
  const char *tool = g_getenv ("SMTPCLIENT_SEND");
  Communicated comm = { FALSE, NULL, NULL, NULL };
  Mailbox bob, carol;

  if (server == NULL)
    return;
  if (tool == NULL || *tool == '\0')
    g_error ("SMTPCLIENT_SEND is not set (run the tests with meson test)");

  mailbox_before (server, &bob, "bob@example.org");
  mailbox_before (server, &carol, "carol@example.org");
  g_file_set_contents (path, g_bytes_get_data (content, NULL),
                       g_bytes_get_size (content), &error);
  g_assert_no_error (error);

  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                              | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                              tool, "--lmtp",
                              "--server",
                              smtp_test_mailserver_get_string (server,
                                                               "lmtp_socket"),
                              "--from", "sender@example.org",
                              "--timeout", "60", "--log",
                              "--message-file", path,
                              "carol@example.org", "bob@example.org",
                              NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated,
                                       &comm);
  iterate_until (&comm.done, RUN_WAIT_S, "smtpclient-send");
  g_assert_no_error (comm.error);
  g_test_message ("smtpclient-send's standard error:\n%s", comm.errors);
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  g_assert_nonnull (strstr (comm.errors, "-> LHLO "));
  g_assert_nonnull (strstr (comm.errors, "-> RCPT TO:<carol@example.org>"));

  assert_delivered (server, &carol, content);
  assert_delivered (server, &bob, content);
  g_free (comm.output);
  g_free (comm.errors);
}

static void
add_lmtp_tests (void)
{
  g_test_add_func ("/smtpclient/interop/dovecot-lmtp/recipients",
                   test_lmtp_recipients);
  g_test_add_func ("/smtpclient/interop/dovecot-lmtp/unknown-refused",
                   test_lmtp_unknown_refused);
  g_test_add_func ("/smtpclient/interop/dovecot-lmtp/unknown-allowed",
                   test_lmtp_unknown_allowed);
  g_test_add_func ("/smtpclient/interop/dovecot-lmtp/cli", test_lmtp_cli);
}

int
main (int    argc,
      char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_summary ("BDAT and DATA with a real Postfix; LMTP over a Unix "
                  "socket with a real Dovecot, from the library and from "
                  "smtpclient-send");

  add_postfix_tests ();
  add_lmtp_tests ();

  status = g_test_run ();

  g_clear_pointer (&postfix.server, smtp_test_mailserver_free);
  g_clear_pointer (&postfix_lmtp.server, smtp_test_mailserver_free);
  g_clear_pointer (&postfix_small.server, smtp_test_mailserver_free);
  g_clear_pointer (&dovecot.server, smtp_test_mailserver_free);
  return status;
}
