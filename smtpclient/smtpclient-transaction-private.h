/* smtpclient-transaction-private.h: one mail transaction, as the session
 * and the engine carry it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A transaction is what a task hands to a session: the envelope, the
 * content, the hooks through which the task hears of its progress (its
 * log, its progress, its certificate questions), and the outcome the
 * engine fills in.  It knows nothing of tasks, sessions or sockets.
 */

#pragma once

#include <gio/gio.h>

#include "smtpclient-enums.h"

G_BEGIN_DECLS

/* One line of the transaction log, already redacted and escaped:
 * "<- 250 ok", "-> MAIL FROM:<a@b>", "-> [message: 12 bytes]". */
typedef void     (*SmtpClientLogFunc)               (const char           *line,
                                                     gpointer              owner);
/* Content upload: input bytes consumed so far, total (0 unknown). */
typedef void     (*SmtpClientProgressFunc)          (guint64               bytes_sent,
                                                     guint64               bytes_total,
                                                     gpointer              owner);
/* The server's certificate did not verify: TRUE to accept it anyway. */
typedef gboolean (*SmtpClientAcceptCertificateFunc) (GTlsCertificate      *certificate,
                                                     GTlsCertificateFlags  errors,
                                                     gpointer              owner);

/* Where the time of a delivery went (summed over its attempts) */
typedef enum
{
  SMTP_CLIENT_TIMING_CONNECT,   /* TCP connect (the connection's opener) */
  SMTP_CLIENT_TIMING_TLS,       /* STARTTLS and the handshakes (opener) */
  SMTP_CLIENT_TIMING_AUTH,      /* AUTH (opener) */
  SMTP_CLIENT_TIMING_ENVELOPE,  /* MAIL to the go-ahead for the content */
  SMTP_CLIENT_TIMING_DATA,      /* the content and the reply to its end */
  SMTP_CLIENT_N_TIMINGS
} SmtpClientTiming;

typedef struct
{
  guint                            ref_count;

  /* The envelope and the content, set before delivery */
  char                            *from;       /* "" for the null path */
  GStrv                            recipients;
  guint                            n_recipients;
  GInputStream                    *content;
  guint64                          content_size;    /* 0 when unknown */
  /* A regular file: read with read(2) on the main context (a regular
   * file never blocks meaningfully), rewound to @content_start; -1 for
   * any other source.  Under @content, which owns it, or on its own
   * (@content NULL) when the transaction opened it */
  int                              content_fd;
  gboolean                         content_fd_owned;
  gint64                           content_start;
  gboolean                         content_is_7bit; /* known 7-bit */
  gboolean                         allow_refused_recipients;
  gboolean                         binary_mime;     /* BDAT, as it is */
  gboolean                         require_tls;     /* REQUIRETLS */
  SmtpClientDsnNotify              dsn_notify;
  SmtpClientDsnReturn              dsn_return;
  char                            *dsn_envelope_id;

  /* The owner (a task) and how it hears of the delivery */
  guint                            debug;
  char                            *alias;
  SmtpClientLogFunc                log_func;
  SmtpClientProgressFunc           progress_func;
  SmtpClientAcceptCertificateFunc  accept_func;
  gpointer                         owner;

  /* Set by the session: nothing follows it on its connection, so a failed
   * transaction is not reset with RSET (the connection is closed with QUIT
   * instead); how many attempts were made; the session's own data */
  gboolean                         is_last;
  guint                            attempts;
  gpointer                         driver_data;

  /* The outcome of the last attempt, set by the engine */
  SmtpClientDeliveryState          state;
  guint                            reply_code;  /* the deciding reply */
  char                            *reply;
  GPtrArray                       *refused;     /* of char*, addresses */
  guint                           *recipient_codes;   /* per recipient: its
                                                       * reply, 0 for none */
  char                           **recipient_replies;
  gboolean                         is_transient; /* worth another attempt */
  gboolean                         was_attempted; /* the server answered
                                                  * it, or it was the one
                                                  * in progress when the
                                                  * connection failed */
  gboolean                         content_touched; /* content was read */

  /* Seconds, over every attempt (the engine adds them) */
  gdouble                          timings[SMTP_CLIENT_N_TIMINGS];
} SmtpClientTransaction;

/* Reference-counted, on one main context: the engine keeps the one a
 * connection was opened for, to log the connection's end into it.  The
 * owner clears its hooks (log_func, progress_func, accept_func, owner)
 * when it is done with the delivery: nothing reaches it after that. */
SmtpClientTransaction *smtp_client_transaction_new   (void);
SmtpClientTransaction *smtp_client_transaction_ref   (SmtpClientTransaction *transaction);
void                   smtp_client_transaction_unref (SmtpClientTransaction *transaction);
void                   smtp_client_transaction_clear_hooks (SmtpClientTransaction *transaction);

/* Take @content as the transaction's content; TRUE when it is a regular
 * file (content_fd and content_size set from its descriptor) */
gboolean               smtp_client_transaction_set_content   (SmtpClientTransaction  *transaction,
                                                              GInputStream           *content);
/* Open the local regular file @file as the content with one open() and
 * one fstat(), without waiting for anything; FALSE when @file is not one
 * (or cannot be opened: GIO's asynchronous open then says why) */
gboolean               smtp_client_transaction_open_file     (SmtpClientTransaction  *transaction,
                                                              GFile                  *file);
/* read(2) from content_fd */
gssize                 smtp_client_transaction_read_file     (SmtpClientTransaction  *transaction,
                                                              void                   *buffer,
                                                              gsize                   count,
                                                              GError                **error);
/* Forget the outcome of a previous attempt and rewind the content; FALSE
 * (and the outcome kept) when the content was read and cannot be read
 * again (a pipe). */
gboolean               smtp_client_transaction_begin_attempt (SmtpClientTransaction *transaction);

/* Rewind the content for another transaction of the same attempt (the
 * recipients a server would not take at once); FALSE when it was read
 * and cannot be read again. */
gboolean               smtp_client_transaction_rewind_content (SmtpClientTransaction *transaction);

/* Report @text (@length bytes, or -1) with @prefix ("<- ", "-> ", "-- ")
 * to the owner's log and, when its debug is on, to g_debug(), tagged with
 * its alias.  Control characters are escaped.  @transaction may be NULL:
 * then only a debug line is written, when @debug is set. */
void                   smtp_client_transaction_log (SmtpClientTransaction *transaction,
                                                    guint                  debug,
                                                    const char            *prefix,
                                                    const char            *text,
                                                    gssize                 length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientTransaction, smtp_client_transaction_unref)

G_END_DECLS
