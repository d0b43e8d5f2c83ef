/* smtpclient-session-private.h: what a task needs of a session
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The session delivers transactions and tells of each outcome through a
 * callback; it never calls into the task (no task <-> session circle).
 */

#pragma once

#include "smtpclient-session.h"
#include "smtpclient-settings-private.h"
#include "smtpclient-transaction-private.h"

G_BEGIN_DECLS

/* @transaction's outcome is known (its state, reply, refused recipients,
 * attempts): @error is NULL when the server accepted it, else transfer
 * full.  Called once, from the session's main context, never from inside
 * smtp_client_session_deliver(). */
typedef void (*SmtpClientDeliveredFunc) (SmtpClientTransaction *transaction,
                                         GError                *error,
                                         gpointer               user_data);

/* The session's connection settings (transfer full) */
SmtpClientSettings *smtp_client_session_dup_settings (SmtpClientSession *session);

/* The name the servers' certificates must match, when it is not the
 * server's own (SRV discovery) */
void                smtp_client_session_set_tls_name (SmtpClientSession *session,
                                                      const char        *name);

/* A private session for one task: one connection, no RSET after a
 * failure (QUIT instead), the task's own @settings */
SmtpClientSession *smtp_client_session_new_one_shot (SmtpClientSettings *settings);

/* Deliver @transaction over one of the session's connections (trying
 * again as the resilience settings say); @transaction stays valid until
 * @func is called.  Cancelling @cancellable ends the delivery as soon as
 * that is safe (see smtp_client_connection_transact()). */
void               smtp_client_session_deliver (SmtpClientSession       *session,
                                                SmtpClientTransaction   *transaction,
                                                GCancellable            *cancellable,
                                                SmtpClientDeliveredFunc  func,
                                                gpointer                 user_data);

G_END_DECLS
