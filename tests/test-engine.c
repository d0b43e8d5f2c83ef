/* test-engine.c: the protocol engine alone, over a server played from
 * memory: every transaction finishes exactly once, then the connection
 * closes once; buffers that held credentials are wiped
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * White-box: it links the library's static copy and looks at the
 * engine's insides (smtpclient-connection-engine-private.h).
 */

#include "config.h"

#include <string.h>

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-test-peer.h"

static SmtpClientTransaction *
new_transaction (const char *body)
{
  SmtpClientTransaction *transaction = smtp_client_transaction_new ();
  const char *to[] = { "rcpt@example.org", NULL };

  transaction->from = g_strdup ("sender@example.org");
  transaction->recipients = g_strdupv ((GStrv) to);
  transaction->n_recipients = 1;
  transaction->content = g_memory_input_stream_new_from_data (g_strdup (body), -1,
                                                              g_free);
  transaction->content_size = strlen (body);
  transaction->content_is_7bit = TRUE;
  transaction->is_last = TRUE;
  smtp_client_transaction_begin_attempt (transaction);

  return transaction;
}

static SmtpClientSettings *
new_settings (void)
{
  SmtpClientSettings *settings = smtp_client_settings_new ();

  /* No real time: the peer never makes the engine wait */
  settings->timeout = 0;
  return settings;
}

/* ---------------------------------------------------------------------- */

static gboolean
buffer_contains (const guint8 *buffer,
                 gsize         size,
                 const char   *needle)
{
  gsize length = strlen (needle);

  for (gsize i = 0; buffer != NULL && i + length <= size; i++)
    if (memcmp (buffer + i, needle, length) == 0)
      return TRUE;
  return FALSE;
}

typedef struct
{
  const char *mechanism;
  const char *offered;
  const char *chunks[8];
  const char *secrets[3];   /* what must not be left in memory */
} SecretCase;

static const SecretCase secret_cases[] = {
  { "PLAIN", "250 AUTH PLAIN",
    { "235 2.7.0 ok\r\n", NULL },
    /* base64 of "\0alice\0Tr0ub4dor&3", and the password */
    { "AGFsaWNlAFRyMHViNGRvciYz", "Tr0ub4dor&3", NULL } },
  { "LOGIN", "250 AUTH LOGIN",
    { "334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n", "235 2.7.0 ok\r\n", NULL },
    { "VHIwdWI0ZG9yJjM=", "Tr0ub4dor&3", NULL } },
};

static void
test_secrets_wiped (gconstpointer data)
{
  const SecretCase *c = data;
  g_autoptr(SmtpTestPeer) peer = smtp_test_peer_new ();
  g_autoptr(SmtpClientSettings) settings = new_settings ();
  g_autoptr(SmtpClientConnection) connection = NULL;
  g_autoptr(SmtpClientTransaction) transaction = NULL;
  g_autoptr(GBytes) written = NULL;
  g_autofree char *ehlo = g_strconcat ("250-localhost\r\n", c->offered, "\r\n",
                                       NULL);
  SmtpTestEngineReport report;
  gsize size = 0;
  const guint8 *sent;

  g_test_summary ("Every buffer of the engine that held a credential is "
                  "wiped once it is written: the output buffer too");

  settings->auth_user = g_strdup ("alice");
  settings->auth_password = g_strdup ("Tr0ub4dor&3");
  settings->auth_mechanism = g_strdup (c->mechanism);
  settings->allow_insecure_auth = TRUE;

  smtp_test_peer_add (peer, "220 memory ESMTP\r\n", 18);
  smtp_test_peer_add (peer, ehlo, strlen (ehlo));
  for (guint i = 0; c->chunks[i] != NULL; i++)
    smtp_test_peer_add (peer, c->chunks[i], strlen (c->chunks[i]));
  smtp_test_peer_add (peer, "250 ok\r\n", 8);
  smtp_test_peer_add (peer, "250 ok\r\n", 8);
  smtp_test_peer_add (peer, "354 go\r\n", 8);
  smtp_test_peer_add (peer, "250 queued\r\n", 12);

  smtp_test_engine_report_init (&report);
  connection = smtp_client_connection_new (settings, smtp_test_engine_hooks (),
                                           &report);
  transaction = new_transaction ("Subject: secret\r\n\r\nhello\r\n");
  smtp_client_connection_transact (connection, transaction, NULL);
  smtp_client_connection_open_stream (connection,
                                      smtp_test_peer_get_stream (peer));
  g_assert_true (smtp_test_peer_drive (peer, smtp_test_engine_is_closed, &report, 10000));

  /* It authenticated and delivered: the credentials did go out */
  g_assert_cmpuint (report.finished, ==, 1);
  g_assert_null (g_ptr_array_index (report.errors, 0));
  written = smtp_test_peer_get_written (peer);
  sent = g_bytes_get_data (written, &size);
  g_assert_true (buffer_contains (sent, size, c->secrets[0]));

  /* ... and nothing of them is left in the engine's buffer or state */
  g_assert_null (connection->sasl);
  g_assert_false (connection->out_has_secret);
  for (guint i = 0; c->secrets[i] != NULL; i++)
    g_assert_false (buffer_contains (connection->out, connection->out_size,
                                     c->secrets[i]));

  smtp_test_engine_report_clear (&report);
}

/* ---------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *server;   /* chunks separated by '|' */
  gboolean    success;
} Script;

static const Script scripts[] = {
  { "delivered", "220 hi\r\n|250 x\r\n|250 ok\r\n|250 ok\r\n|354 go\r\n|250 q\r\n|221 bye\r\n", TRUE },
  { "no-greeting", "", FALSE },
  { "garbage", "hello there\r\n", FALSE },
  { "eof-after-ehlo", "220 hi\r\n|250 x\r\n", FALSE },
  { "eof-mid-reply", "220 hi\r\n|250-x\r\n", FALSE },
  { "eof-after-354", "220 hi\r\n|250 x\r\n|250 ok\r\n|250 ok\r\n|354 go\r\n", FALSE },
  { "all-at-once", "220 hi\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n250 q\r\n", FALSE },
  { "pipelined", "220 hi\r\n|250-x\r\n250 PIPELINING\r\n|250 ok\r\n250 ok\r\n354 go\r\n|250 q\r\n", TRUE },
  { "early-refusal", "220 hi\r\n|250 x\r\n|250 ok\r\n|250 ok\r\n|354 go\r\n550 no\r\n", FALSE },
  { "421-everywhere", "421 bye\r\n|421 bye\r\n", FALSE },
  { "1yz", "220 hi\r\n|150 what\r\n", FALSE },
};

static void
test_one_completion (gconstpointer data)
{
  const Script *script = data;
  g_autoptr(SmtpTestPeer) peer = smtp_test_peer_new ();
  g_autoptr(SmtpClientSettings) settings = new_settings ();
  g_autoptr(SmtpClientConnection) connection = NULL;
  SmtpClientTransaction *transactions[3];
  SmtpTestEngineReport report;

  g_test_summary ("Whatever the server says, every transaction handed to "
                  "the engine finishes exactly once, then the connection "
                  "closes exactly once");

  smtp_test_peer_add_split (peer, (const guint8 *) script->server,
                            strlen (script->server), '|');
  smtp_test_engine_report_init (&report);
  connection = smtp_client_connection_new (settings, smtp_test_engine_hooks (),
                                           &report);
  for (guint i = 0; i < G_N_ELEMENTS (transactions); i++)
    {
      transactions[i] = new_transaction ("Subject: one\r\n\r\nbody\r\n");
      transactions[i]->is_last = FALSE;
      smtp_client_connection_transact (connection, transactions[i], NULL);
    }
  smtp_client_connection_open_stream (connection,
                                      smtp_test_peer_get_stream (peer));
  g_assert_true (smtp_test_peer_drive (peer, smtp_test_engine_is_closed, &report, 10000));

  g_assert_cmpuint (report.finished, ==, G_N_ELEMENTS (transactions));
  g_assert_cmpuint (report.closed, ==, 1);
  if (script->success)
    g_assert_null (g_ptr_array_index (report.errors, 0));
  else
    g_assert_nonnull (g_ptr_array_index (report.errors, 0));

  for (guint i = 0; i < G_N_ELEMENTS (transactions); i++)
    smtp_client_transaction_unref (transactions[i]);
  smtp_test_engine_report_clear (&report);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (secret_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/engine/secrets-wiped/",
                                           secret_cases[i].mechanism, NULL);

      g_test_add_data_func (path, &secret_cases[i], test_secrets_wiped);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (scripts); i++)
    {
      g_autofree char *path = g_strconcat ("/smtpclient/engine/one-completion/",
                                           scripts[i].name, NULL);

      g_test_add_data_func (path, &scripts[i], test_one_completion);
    }

  return g_test_run ();
}
