/* fuzz-engine.c: libFuzzer target for the protocol engine as a whole
 *
 * Arbitrary server bytes are played to the engine through in-memory
 * pollable streams (tests/smtpclient-test-peer.c): the input is split at
 * 0xff bytes into chunks, one released each time the client has nothing
 * left to do.  The first byte picks the settings (credentials and a
 * mechanism, so that AUTH is reached; how many transactions).  Whatever
 * the server says: no crash, every transaction finishes exactly once with
 * a delivery state, the connection closes exactly once, and the engine's
 * memory stays bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtpclient/smtpclient-connection-engine-private.h"
#include "smtpclient-test-peer.h"

/* No message, buffer or queue of the engine grows past these */
#define MAX_OUT_SIZE      (512 * 1024)
#define MAX_EXPECTS       64
#define MAX_TRANSACTIONS  3

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

typedef struct
{
  guint finished;
  guint closed;
} Report;

static void
on_ready (SmtpClientConnection *connection,
          gpointer              data)
{
}

static void
on_finished (SmtpClientConnection  *connection,
             SmtpClientTransaction *transaction,
             GError                *error,
             gpointer               data)
{
  Report *report = data;

  g_assert_cmpuint (report->closed, ==, 0);
  g_assert_cmpint (transaction->state, !=, SMTP_CLIENT_DELIVERY_STATE_PENDING);
  g_assert_true ((error == NULL) ==
                 (transaction->state == SMTP_CLIENT_DELIVERY_STATE_ACCEPTED));
  if (transaction->reply != NULL)
    {
      g_assert_true (g_utf8_validate (transaction->reply, -1, NULL));
      for (const char *p = transaction->reply; *p != '\0'; p++)
        g_assert_true (*p == '\n' || (guchar) *p >= 0x20);
    }
  report->finished++;
  g_clear_error (&error);
}

static void
on_closed (SmtpClientConnection *connection,
           gpointer              data)
{
  ((Report *) data)->closed++;
}

static gboolean
on_accept_certificate (SmtpClientConnection  *connection,
                       SmtpClientTransaction *opener,
                       GTlsCertificate       *certificate,
                       GTlsCertificateFlags   errors,
                       gpointer               data)
{
  return FALSE;
}

static const SmtpClientConnectionHooks hooks = {
  on_ready, on_finished, on_closed, on_accept_certificate,
};

static gboolean
is_closed (gpointer data)
{
  return ((Report *) data)->closed > 0;
}

static SmtpClientTransaction *
new_transaction (guint index)
{
  static const char body[] = "Subject: fuzz\r\n\r\n.dot\r\nline\n";
  const char *to[] = { "a@example.org", "b@example.org", NULL };
  SmtpClientTransaction *transaction = smtp_client_transaction_new ();

  transaction->from = g_strdup ("sender@example.org");
  transaction->recipients = g_strdupv ((GStrv) to);
  transaction->n_recipients = 2;
  transaction->allow_refused_recipients = index % 2 == 1;
  transaction->content = g_memory_input_stream_new_from_data (body,
                                                              sizeof body - 1,
                                                              NULL);
  transaction->content_size = sizeof body - 1;
  transaction->content_is_7bit = TRUE;
  smtp_client_transaction_begin_attempt (transaction);

  return transaction;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const char * const mechanisms[] = {
    NULL, "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256", "XOAUTH2",
    "OAUTHBEARER", NULL,
  };
  g_autoptr(SmtpTestPeer) peer = NULL;
  g_autoptr(SmtpClientSettings) settings = NULL;
  g_autoptr(SmtpClientConnection) connection = NULL;
  SmtpClientTransaction *transactions[MAX_TRANSACTIONS];
  Report report = { 0, 0 };
  guint n;
  guint8 choice;

  if (size < 1)
    return 0;

  choice = data[0];
  n = 1 + choice % MAX_TRANSACTIONS;

  settings = smtp_client_settings_new ();
  settings->timeout = 0;   /* the peer never makes it wait */
  if ((choice >> 2) % 8 != 7)
    {
      settings->auth_user = g_strdup ("user");
      settings->auth_password = g_strdup ("pencil");
      settings->auth_mechanism = g_strdup (mechanisms[(choice >> 2) % 8]);
      settings->allow_insecure_auth = TRUE;
    }

  peer = smtp_test_peer_new ();
  smtp_test_peer_add_split (peer, data + 1, size - 1, 0xff);

  connection = smtp_client_connection_new (settings, &hooks, &report);
  for (guint i = 0; i < n; i++)
    {
      transactions[i] = new_transaction (i);
      transactions[i]->is_last = (choice & 0x80) != 0;
      smtp_client_connection_transact (connection, transactions[i], NULL);
    }
  smtp_client_connection_open_stream (connection,
                                      smtp_test_peer_get_stream (peer));

  g_assert_true (smtp_test_peer_drive (peer, is_closed, &report, 100000));

  g_assert_cmpuint (report.finished, ==, n);
  g_assert_cmpuint (report.closed, ==, 1);
  g_assert_cmpuint (connection->out_size, <=, MAX_OUT_SIZE);
  g_assert_cmpuint (connection->expects_size, <=, MAX_EXPECTS);

  for (guint i = 0; i < n; i++)
    smtp_client_transaction_unref (transactions[i]);

  return 0;
}
