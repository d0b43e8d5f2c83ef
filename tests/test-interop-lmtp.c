/* test-interop-lmtp.c: LMTP over a Unix socket against a real Dovecot,
 * a private instance started by the test
 * (tests/servers/mailserver-dovecot-lmtp.py), from the library and from
 * smtpclient-send.  What Dovecot stored (Maildir files, compared byte for
 * byte) and logged is checked, not only what the client reports.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With SMTPCLIENT_INTEROP_TRANSCRIPTS=DIR the transaction log of one LMTP
 * exchange is also written to DIR/transcript-lmtp-dovecot.txt.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-interop.h"
#include "smtpclient-test-utils.h"

#define KB SMTP_TEST_KB
#define MB SMTP_TEST_MB

static SmtpTestSharedServer dovecot = { "dovecot-lmtp", NULL, FALSE, NULL };

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
  smtp_test_assert_stored (server, messages->pdata[mailbox->stored], sent);
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
  SmtpTestMailServer *server = smtp_test_shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "bob@example.org",
                       "carol@example.org", NULL };
  g_autoptr(GBytes) content = smtp_test_make_message (10 * MB, 10);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  Mailbox mailboxes[3];
  const char *log;

  if (server == NULL)
    return;

  for (guint i = 0; i < 3; i++)
    mailbox_before (server, &mailboxes[i], to[i]);
  task = lmtp_task (server, to, content);
  if (!smtp_test_interop_run_task (task, &error))
    smtp_test_print_log (task);
  g_assert_no_error (error);
  g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                   SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
  log = smtp_client_task_get_transaction_log (task);
  smtp_test_assert_log_format (log);
  g_assert_cmpuint (smtp_test_count_lines (log, "-> LHLO "), ==, 1);
  g_assert_cmpuint (smtp_test_count_lines (log, "-> EHLO"), ==, 0);

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
  SmtpTestMailServer *server = smtp_test_shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "nobody@example.org",
                       "bob@example.org", NULL };
  g_autoptr(GBytes) content = smtp_test_make_message (1 * KB, 11);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  const char * const *refused;
  Mailbox alice, bob;

  if (server == NULL)
    return;

  mailbox_before (server, &alice, "alice@example.org");
  mailbox_before (server, &bob, "bob@example.org");
  task = lmtp_task (server, to, content);
  g_assert_false (smtp_test_interop_run_task (task, &error));
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
  g_assert_cmpuint (smtp_test_count_lines (
                      smtp_client_task_get_transaction_log (task), "-> RSET"),
                    <=, 1);

  assert_not_delivered (server, &alice);
  assert_not_delivered (server, &bob);
}

/* With allow-refused-recipients the others get it; each recipient's reply
 * is Dovecot's: the 550 to RCPT for the unknown one, the replies after
 * the data for the others */
static void
test_lmtp_unknown_allowed (void)
{
  SmtpTestMailServer *server = smtp_test_shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "nobody@example.org",
                       "bob@example.org", NULL };
  g_autoptr(GBytes) content = smtp_test_make_message (1 * KB, 12);
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
  g_assert_true (smtp_test_interop_run_task (task, &error));
  g_assert_no_error (error);
  smtp_test_print_and_save_log (task, "transcript-lmtp-dovecot.txt");
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

/* Dovecot refuses full@ (over quota) after the data, and delivers to
 * alice: one reply per recipient after the end of data.  By default the
 * task fails with full@'s refusal (REFUSED, though alice has it: an LMTP
 * delivery cannot be taken back); with allow-refused-recipients it
 * succeeds, and its reply is alice's 250, not full@'s 552 */
static void
test_lmtp_refused_after_data (gconstpointer data)
{
  gboolean allow = GPOINTER_TO_INT (data);
  SmtpTestMailServer *server = smtp_test_shared_server (&dovecot);
  const char *to[] = { "alice@example.org", "full@example.org", NULL };
  g_autoptr(GBytes) content = smtp_test_make_message (4 * KB, 14 + allow);
  g_autoptr(SmtpClientTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *log = NULL;
  Mailbox alice, full;

  if (server == NULL)
    return;

  mailbox_before (server, &alice, "alice@example.org");
  mailbox_before (server, &full, "full@example.org");
  task = lmtp_task (server, to, content);
  g_object_set (task, "allow-refused-recipients", allow, NULL);
  g_assert_cmpint (smtp_test_interop_run_task (task, &error), ==, allow);
  smtp_test_print_log (task);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (
                      task, "alice@example.org"), ==, 250);
  g_assert_cmpuint (smtp_client_task_get_recipient_reply_code (
                      task, "full@example.org"), ==, 552);
  g_assert_nonnull (strstr (smtp_client_task_get_recipient_reply (
                              task, "full@example.org"), "Quota"));
  g_assert_cmpstrv (smtp_client_task_get_refused_recipients (task),
                    ((const char * const[]) { "full@example.org", NULL }));
  if (allow)
    {
      g_assert_no_error (error);
      g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                       SMTP_CLIENT_DELIVERY_STATE_ACCEPTED);
      g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 250);
      g_assert_nonnull (strstr (smtp_client_task_get_reply (task),
                                "<alice@example.org>"));
    }
  else
    {
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER);
      g_assert_nonnull (strstr (error->message, "full@example.org"));
      g_assert_cmpint (smtp_client_task_get_delivery_state (task), ==,
                       SMTP_CLIENT_DELIVERY_STATE_REFUSED);
      g_assert_cmpuint (smtp_client_task_get_reply_code (task), ==, 552);
    }

  assert_delivered (server, &alice, content);
  assert_not_delivered (server, &full);
  log = smtp_test_mailserver_get_log (server);
  g_assert_nonnull (strstr (log, "Quota exceeded"));
}

/* smtpclient-send --lmtp --server SOCKET: a 1 MB message from a file to
 * two mailboxes, its log on stderr */
static void
test_lmtp_cli (void)
{
  SmtpTestMailServer *server = smtp_test_shared_server (&dovecot);
  g_autoptr(GBytes) content = smtp_test_make_message (1 * MB, 13);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = smtp_test_tmp_path ("cli-lmtp.eml");
  g_auto(SmtpTestToolRun) run = { 0, NULL, NULL };
  Mailbox bob, carol;

  if (server == NULL)
    return;

  mailbox_before (server, &bob, "bob@example.org");
  mailbox_before (server, &carol, "carol@example.org");
  g_file_set_contents (path, g_bytes_get_data (content, NULL),
                       g_bytes_get_size (content), &error);
  g_assert_no_error (error);

  {
    const char * const argv[] = {
      smtp_test_send_tool (), "--lmtp",
      "--server", smtp_test_mailserver_get_string (server, "lmtp_socket"),
      "--from", "sender@example.org", "--timeout", "60", "--log",
      "--message-file", path, "carol@example.org", "bob@example.org", NULL
    };

    smtp_test_run_tool_full (&run, argv, NULL, NULL,
                             SMTP_TEST_INTEROP_RUN_WAIT_S);
  }
  g_assert_cmpint (run.status, ==, 0);
  g_assert_nonnull (strstr (run.err, "-> LHLO "));
  g_assert_nonnull (strstr (run.err, "-> RCPT TO:<carol@example.org>"));

  assert_delivered (server, &carol, content);
  assert_delivered (server, &bob, content);
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
  g_test_add_data_func ("/smtpclient/interop/dovecot-lmtp/"
                        "refused-after-data", GINT_TO_POINTER (FALSE),
                        test_lmtp_refused_after_data);
  g_test_add_data_func ("/smtpclient/interop/dovecot-lmtp/"
                        "refused-after-data-allowed", GINT_TO_POINTER (TRUE),
                        test_lmtp_refused_after_data);
  g_test_add_func ("/smtpclient/interop/dovecot-lmtp/cli", test_lmtp_cli);
}

int
main (int    argc,
      char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_summary ("LMTP over a Unix socket with a real Dovecot: several "
                  "recipients, per-recipient replies, refused and "
                  "over-quota recipients, and smtpclient-send --lmtp");

  add_lmtp_tests ();

  status = g_test_run ();

  smtp_test_shared_server_free (&dovecot);
  return status;
}
