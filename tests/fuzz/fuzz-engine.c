/* fuzz-engine.c: libFuzzer target for the protocol engine as a whole
 *
 * Arbitrary server bytes are played to the engine through in-memory
 * pollable streams (tests/smtpclient-test-peer.c): the input is split at
 * 0xff bytes into chunks, one released each time the client has nothing
 * left to do.  The first byte picks the settings (credentials and a
 * mechanism, so that AUTH is reached; how many transactions; LMTP or
 * SMTP), the second the content's way (CHUNKING allowed or not,
 * BINARYMIME, REQUIRETLS).  Whatever
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

static SmtpClientTransaction *
new_transaction (guint  index,
                 guint8 way)
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
  transaction->binary_mime = (way & 0x02) != 0;
  transaction->require_tls = (way & 0x04) != 0;
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
  SmtpTestEngineReport report;
  guint n;
  guint8 choice;
  guint8 way;

  if (size < 2)
    return 0;

  choice = data[0];
  way = data[1];
  n = 1 + choice % MAX_TRANSACTIONS;

  settings = smtp_client_settings_new ();
  settings->timeout = 0;   /* the peer never makes it wait */
  settings->protocol = (choice & 0x20) != 0 ? SMTP_CLIENT_PROTOCOL_LMTP
                                            : SMTP_CLIENT_PROTOCOL_SMTP;
  settings->chunking = (way & 0x01) == 0;
  if ((choice >> 2) % 8 != 7)
    {
      settings->auth_user = g_strdup ("user");
      settings->auth_password = g_strdup ("pencil");
      settings->auth_mechanism = g_strdup (mechanisms[(choice >> 2) % 8]);
      settings->allow_insecure_auth = TRUE;
    }

  peer = smtp_test_peer_new ();
  smtp_test_peer_add_split (peer, data + 2, size - 2, 0xff);

  smtp_test_engine_report_init (&report);
  connection = smtp_client_connection_new (settings, smtp_test_engine_hooks (),
                                           &report);
  for (guint i = 0; i < n; i++)
    {
      transactions[i] = new_transaction (i, way);
      transactions[i]->is_last = (choice & 0x80) != 0;
      smtp_client_connection_transact (connection, transactions[i], NULL);
    }
  smtp_client_connection_open_stream (connection,
                                      smtp_test_peer_get_stream (peer));

  g_assert_true (smtp_test_peer_drive (peer, smtp_test_engine_is_closed,
                                       &report, 100000));

  g_assert_cmpuint (report.finished, ==, n);
  g_assert_cmpuint (report.closed, ==, 1);
  g_assert_cmpuint (connection->out_size, <=, MAX_OUT_SIZE);
  g_assert_cmpuint (connection->expects_size, <=, MAX_EXPECTS);

  for (guint i = 0; i < n; i++)
    smtp_client_transaction_unref (transactions[i]);
  smtp_test_engine_report_clear (&report);

  return 0;
}
