/* test-interop-reach.c: CHUNKING (BDAT, pipelined) and DATA against a
 * real Postfix, a private instance started by the test
 * (tests/servers/mailserver-postfix.py).  What Postfix stored (Maildir
 * files, compared byte for byte) and logged is checked, not only what the
 * client reports.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With SMTPCLIENT_INTEROP_TRANSCRIPTS=DIR the transaction log of one
 * pipelined BDAT exchange is also written to
 * DIR/transcript-bdat-postfix.txt.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-interop.h"
#include "smtpclient-test-utils.h"

#define KB SMTP_TEST_KB
#define MB SMTP_TEST_MB

/* Postfix logs a session's end when the client has gone */
#define LOG_WAIT_S 30

/* Delivering through dovecot-lda (the default), over LMTP, and with a
 * small message_size_limit */
static SmtpTestSharedServer postfix = { "postfix", NULL, FALSE, NULL };
static SmtpTestSharedServer postfix_lmtp = { "postfix", "--delivery=lmtp",
                                             FALSE, NULL };
static SmtpTestSharedServer postfix_small = { "postfix", "--size=100000",
                                              FALSE, NULL };
static SmtpTestSharedServer postfix_one_rcpt = { "postfix",
                                                 "--recipient-limit=1",
                                                 FALSE, NULL };

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
  g_autoptr(GBytes) content = smtp_test_make_message (size, size + 2 * source
                                                  + chunking);
  g_autoptr(GBytes) sent = smtp_test_wire_form (content);
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
  if (!smtp_test_interop_run_task (task, &error))
    smtp_test_print_log (task);
  g_assert_no_error (error);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);
  log = smtp_client_task_get_transaction_log (task);
  smtp_test_assert_log_format (log);
  if (transcript != NULL)
    smtp_test_print_and_save_log (task, transcript);
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

      g_assert_cmpuint (smtp_test_count_lines (log, "-> DATA"), ==, 0);
      g_assert_cmpint (at, >=, 0);
      g_assert_true (g_str_has_suffix (lines[at],
                                       chunks > 1 ? " BDAT chunks]"
                                                  : " BDAT chunk]"));
      chunks = (guint) g_ascii_strtoull (lines[at] + strlen (summary),
                                         NULL, 10);
      /* (the summary is logged once the last chunk is out, after the
       * replies to the first ones) */
      g_assert_cmpuint (smtp_test_count_lines (log, "<- 250 2.0.0 Ok: "),
                        ==, chunks);
    }
  else
    {
      g_assert_cmpuint (smtp_test_count_lines (log, "-> DATA"), ==, 1);
      g_assert_cmpuint (smtp_test_count_lines (log, "-> BDAT"), ==, 0);
    }

  after = smtp_test_mailserver_wait_messages (server, POSTFIX_USER,
                                              before->len + 1);
  g_assert_cmpuint (after->len, ==, before->len + 1);
  smtp_test_assert_stored (server, after->pdata[before->len], sent);

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
  SmtpTestMailServer *server = smtp_test_shared_server (chunking ? &postfix
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
  SmtpTestMailServer *server = smtp_test_shared_server (&postfix_small);
  g_autoptr(GBytes) content = smtp_test_make_message (20 * MB, 7);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) stored = NULL;
  g_autofree char *log = NULL;
  const char *transaction_log;

  if (server == NULL)
    return;

  task = postfix_task (server, TRUE);
  set_content (task, content, SOURCE_STREAM, NULL);
  g_assert_false (smtp_test_interop_run_task (task, &error));
  smtp_test_print_log (task);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
  g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 552);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_REFUSED);
  transaction_log = smtp_client_task_get_transaction_log (task);
  g_assert_null (strstr (transaction_log, "SIZE="));
  g_assert_nonnull (strstr (transaction_log, " BDAT chunk"));
  g_assert_cmpuint (smtp_test_count_lines (transaction_log, "-> DATA"), ==, 0);

  /* Postfix says why in its log, and delivers nothing */
  log = smtp_test_mailserver_get_log (server);
  g_assert_nonnull (strstr (log, "BDAT request from localhost[127.0.0.1] "
                                 "exceeds message size limit"));
  g_assert_null (strstr (log, "status=sent"));
  stored = smtp_test_mailserver_get_messages (server, POSTFIX_USER);
  g_assert_cmpuint (stored->len, ==, 0);
}

/* Postfix takes one recipient per transaction ("452 4.5.3 Error: too many
 * recipients" to the others): the message goes again over BDAT, on the
 * same connection, until all three have it, each byte for byte */
static void
test_postfix_too_many_recipients (void)
{
  SmtpTestMailServer *server = smtp_test_shared_server (&postfix_one_rcpt);
  const char *to[] = { POSTFIX_USER, "second@example.org",
                       "third@example.org", NULL };
  g_autoptr(GBytes) content = smtp_test_make_message (200 * KB, 21);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *queue_id = NULL;
  g_autofree char *commands = NULL;
  const char *log;

  if (server == NULL)
    return;

  task = postfix_task (server, TRUE);
  g_object_set (task, "to", to, "body", content, NULL);
  if (!smtp_test_interop_run_task (task, &error))
    smtp_test_print_log (task);
  g_assert_no_error (error);
  log = smtp_client_task_get_transaction_log (task);
  g_assert_cmpuint (smtp_test_count_lines (log, "-> MAIL FROM:"), ==, 3);
  g_assert_cmpuint (smtp_test_count_lines (log, "<- 452 4.5.3 "), ==, 3);
  g_assert_cmpuint (smtp_test_count_lines (log, "-> DATA"), ==, 0);
  g_assert_cmpuint (smtp_test_count_lines (log, "-> [message: "), ==, 3);
  g_assert_cmpuint (smtp_test_count_lines (log, "<- 220 "), ==, 1);

  for (guint i = 0; to[i] != NULL; i++)
    {
      g_autoptr(GPtrArray) stored =
        smtp_test_mailserver_wait_messages (server, to[i], 1);

      g_assert_cmpuint (stored->len, ==, 1);
      smtp_test_assert_stored (server, stored->pdata[0], content);
    }
  /* One session, three transactions: Postfix's count */
  queue_id = queue_id_of (task);
  commands = postfix_session_commands (server, queue_id);
  g_test_message ("Postfix counted: %s", commands);
  g_assert_nonnull (strstr (commands, " mail=3 "));
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
  g_test_add_func ("/smtpclient/interop/postfix/bdat/too-many-recipients",
                   test_postfix_too_many_recipients);
}

/* Dovecot LMTP over its Unix socket */

int
main (int    argc,
      char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_summary ("BDAT (pipelined) and DATA with a real Postfix: sizes "
                  "from 1 B to 50 MB stored byte for byte, and a chunk "
                  "refused over the size limit");

  add_postfix_tests ();

  status = g_test_run ();

  smtp_test_shared_server_free (&postfix);
  smtp_test_shared_server_free (&postfix_lmtp);
  smtp_test_shared_server_free (&postfix_small);
  smtp_test_shared_server_free (&postfix_one_rcpt);
  return status;
}
