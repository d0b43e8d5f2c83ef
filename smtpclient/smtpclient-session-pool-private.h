/* smtpclient-session-pool-private.h: the session's insides, shared by
 * smtpclient-session.c (the object) and smtpclient-session-pool.c (the
 * queue, the connections, the retries)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "smtpclient-connection-private.h"
#include "smtpclient-session-private.h"

G_BEGIN_DECLS

/* How the session works
 *
 * A delivery handed to the session becomes a Job.  Jobs wait in the queue
 * until a connection takes them, and in "waiting" until their next
 * attempt is due.  Each connection lives in a Slot, which is its hooks'
 * data: OPENING (set up for its first job, "the opener"), OPEN, or
 * CLOSING (saying QUIT).  A closing slot still counts against
 * max-connections, so the server never sees more.
 *
 * Every job ends exactly once, in job_complete(), whether it was queued,
 * waiting or on a connection.  The engine reports every transaction it was
 * given exactly once (the finished hook), and then the connection's end
 * (the closed hook), after which the slot goes.
 */

typedef struct _Slot Slot;

struct _SmtpClientSession
{
  GObject             parent_instance;

  SmtpClientSettings *settings;
  guint               max_connections;
  guint               idle_timeout;
  guint               max_messages_per_connection;
  guint               max_messages_per_minute;
  gboolean            is_one_shot;

  GQueue              queue;          /* of Job*, waiting for a connection */
  GQueue              waiting;        /* of Job*, waiting for a retry */
  GPtrArray          *slots;          /* of Slot* */
  GList              *close_tasks;    /* close_async callers waiting */
  GMainContext       *context;        /* the thread-default one at creation */
  gboolean            is_disposed;

  /* Flow control: after a throttling reply, at most connection_limit
   * connections (0: max-connections) and no MAIL before hold_until; with
   * max-messages-per-minute, no MAIL before next_start.  Times are
   * monotonic. */
  guint               connection_limit;
  gint64              last_throttled;
  gint64              hold_until;
  gint64              next_start;

  /* Statistics */
  guint64             messages_accepted;
  guint64             messages_failed;
  guint64             bytes_closed;   /* written by connections now gone */
  guint64             connections_opened;
  guint64             connections_reused;
  guint64             retries;
  guint64             throttled;
};

/* smtpclient-session-pool.c */
void     session_pool_dispatch    (SmtpClientSession *self);
void     session_pool_maybe_close (SmtpClientSession *self);
void     session_pool_shut_down   (SmtpClientSession *self);
void     session_pool_free_slot   (Slot              *slot);
GError  *session_closed_error     (void);
GVariant *session_pool_get_statistics (SmtpClientSession *self);

/* smtpclient-session.c */
gboolean session_accept_certificate (SmtpClientSession    *self,
                                     GTlsCertificate      *certificate,
                                     GTlsCertificateFlags  errors);

G_END_DECLS
