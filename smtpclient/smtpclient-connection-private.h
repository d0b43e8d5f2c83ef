/* smtpclient-connection-private.h: the SMTP protocol engine on one
 * connection
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A connection knows no task and no session: it takes settings and
 * transactions, and reports through the hooks its owner (the session)
 * gives it.  It connects, greets, says EHLO (HELO), STARTTLS and AUTH,
 * then carries transactions, several at once with PIPELINING, and ends
 * with QUIT.  Every command, of the set-up and of the transactions, goes
 * through one queue of expected replies; everything runs on the
 * thread-default main context the connection was created in.
 */

#pragma once

#include <gio/gio.h>

#include "smtpclient-settings-private.h"
#include "smtpclient-transaction-private.h"

G_BEGIN_DECLS

#define SMTP_CLIENT_TYPE_CONNECTION (smtp_client_connection_get_type ())
G_DECLARE_FINAL_TYPE (SmtpClientConnection, smtp_client_connection,
                      SMTP_CLIENT, CONNECTION, GObject)

/* How the engine reports to its owner.  Every hook is called from the
 * engine's loop, never from inside a call of the owner's; a hook may call
 * the engine again (hand over a transaction, quit, detach). */
typedef struct
{
  /* Set up (greeting, EHLO, STARTTLS, AUTH done): it takes transactions */
  void     (*ready)              (SmtpClientConnection  *connection,
                                  gpointer               data);
  /* @transaction has its outcome (its state, reply, refused recipients):
   * @error is NULL when the server accepted the message, else transfer
   * full.  The engine does not touch @transaction afterwards. */
  void     (*finished)           (SmtpClientConnection  *connection,
                                  SmtpClientTransaction *transaction,
                                  GError                *error,
                                  gpointer               data);
  /* The connection is closed, every transaction finished: no hook is
   * called after this one */
  void     (*closed)             (SmtpClientConnection  *connection,
                                  gpointer               data);
  /* The server's certificate did not verify; @opener is the transaction
   * the connection was opened for (may be NULL): TRUE to accept it */
  gboolean (*accept_certificate) (SmtpClientConnection  *connection,
                                  SmtpClientTransaction *opener,
                                  GTlsCertificate       *certificate,
                                  GTlsCertificateFlags   errors,
                                  gpointer               data);
  /* Optional: when @transaction's MAIL may go out (g_get_monotonic_time()
   * units); a time not in the future means now.  Asked again, each time
   * the engine could start it, until it says now: saying now commits. */
  gint64   (*start_time)         (SmtpClientConnection  *connection,
                                  SmtpClientTransaction *transaction,
                                  gpointer               data);
} SmtpClientConnectionHooks;

/* How many transactions a connection carries at once with PIPELINING: the
 * one on the wire, the next one, whose envelope goes out with the end of
 * the first one's content (RFC 2920 §3.1), and one more waiting.  Without
 * PIPELINING, one. */
#define SMTP_CLIENT_CONNECTION_MAX_TRANSACTIONS 3

/* How many 334 challenges an AUTH exchange may have */
#define SMTP_CLIENT_CONNECTION_MAX_AUTH_STEPS 8

SmtpClientConnection *smtp_client_connection_new (SmtpClientSettings              *settings,
                                                  const SmtpClientConnectionHooks *hooks,
                                                  gpointer                         hooks_data);

/* Connect to the server of the settings and set the connection up; the
 * transactions handed over meanwhile wait for it.  The first of them gets
 * the set-up in its log and is asked about the certificate. */
void      smtp_client_connection_open        (SmtpClientConnection *self);

/* The same over @stream, already connected (tests and fuzzers) */
void      smtp_client_connection_open_stream (SmtpClientConnection *self,
                                              GIOStream            *stream);

/* Set up, open, not closing */
gboolean  smtp_client_connection_is_ready    (SmtpClientConnection *self);

/* Bytes written to the server so far (commands and content) */
guint64   smtp_client_connection_get_bytes_written (SmtpClientConnection *self);

/* Ready, and it takes another transaction now: it has none, or fewer than
 * SMTP_CLIENT_CONNECTION_MAX_TRANSACTIONS and the server offers
 * PIPELINING */
gboolean  smtp_client_connection_can_transact (SmtpClientConnection *self);

/* Transactions handed over and not finished yet */
guint     smtp_client_connection_get_n_transactions (SmtpClientConnection *self);

/* Carry out @transaction (MAIL, RCPT..., DATA, the content): it finishes
 * through the finished hook, whatever happens.  @transaction stays valid
 * until then.  Cancelling @cancellable takes a transaction that has sent
 * nothing out of the queue; one already on the wire is abandoned by
 * closing the connection. */
void      smtp_client_connection_transact    (SmtpClientConnection  *self,
                                              SmtpClientTransaction *transaction,
                                              GCancellable          *cancellable);

/* Say QUIT once the transactions handed over are finished, then close.
 * During the set-up, close at once. */
void      smtp_client_connection_quit        (SmtpClientConnection *self);

/* Close at once: every transaction not finished yet finishes now (through
 * the finished hook, before this returns), those still open with @reason
 * (transfer full); no hook is called afterwards. */
void      smtp_client_connection_detach      (SmtpClientConnection *self,
                                              GError               *reason);

G_END_DECLS
