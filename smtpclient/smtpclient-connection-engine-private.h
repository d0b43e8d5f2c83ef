/* smtpclient-connection-engine-private.h: the insides of the engine,
 * shared by smtpclient-connection*.c and nothing else
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * smtpclient-connection.c             the object, the queue of expected
 *                                     replies and the loop that drives
 *                                     it; failure and closing
 * smtpclient-connection-io.c          the reader, the writer, the timer
 * smtpclient-connection-setup.c       connect, TLS, greeting, EHLO/HELO,
 *                                     STARTTLS, AUTH
 * smtpclient-connection-transaction.c MAIL, RCPT, DATA, the end of data,
 *                                     RSET: transactions
 * smtpclient-connection-outcome.c     what decides a transaction, and how
 *                                     it is reported
 * smtpclient-connection-content.c     the content between DATA and the end
 *
 * The loop (engine_run) is the only place where replies are handled,
 * work is started, the output is flushed, finished transactions are
 * reported and the timer is re-armed.  Callbacks of GIO (connect, TLS,
 * readable, writable, content, timer, cancellation) change state and call
 * engine_run(); a hook the loop calls may call the engine again, which
 * only records that the loop has to go round once more.
 */

#pragma once

#include "smtpclient-connection-private.h"
#include "smtpclient-error.h"
#include "smtpclient-data-stream-private.h"
#include "smtpclient-envelope-private.h"
#include "smtpclient-reply-private.h"
#include "smtpclient-sasl-private.h"

G_BEGIN_DECLS

/* Room for replies read ahead: several maximal lines */
#define IN_BUFFER_SIZE   (4 * (SMTP_CLIENT_REPLY_MAX_LINE + 2))
#define OUT_INITIAL_SIZE 4096

typedef struct _Transact Transact;

/* A reply the engine waits for, and what it answers */
typedef struct
{
  SmtpClientCommand  command;
  Transact          *transact;   /* NULL for the set-up and QUIT */
  guint              index;      /* RCPT: the recipient */
} Expect;

typedef enum
{
  PHASE_NEW,
  PHASE_CONNECTING,  /* TCP connect */
  PHASE_HANDSHAKE,   /* TLS handshake */
  PHASE_SETUP,       /* greeting, EHLO, STARTTLS, AUTH */
  PHASE_READY,       /* carries transactions */
  PHASE_QUITTING,    /* QUIT queued: nothing else goes out */
  PHASE_CLOSED,
} Phase;

/* How a failure ends the connection */
typedef enum
{
  CLOSE_NOW,         /* drop it: the conversation is out of step */
  CLOSE_QUIT,        /* say QUIT and wait (bounded) for the reply */
  CLOSE_QUIT_NOW,    /* say QUIT and close (after 421 or an unasked 221) */
} CloseMode;

typedef enum
{
  TRANSACT_QUEUED,   /* nothing sent */
  TRANSACT_ENVELOPE, /* MAIL, RCPT..., DATA sent or going out */
  TRANSACT_UPLOAD,   /* the content is going out */
  TRANSACT_FINAL,    /* the end of data went out: its reply is due */
  TRANSACT_RESET,    /* decided; RSET or a lone "." is answered last */
} TransactPhase;

/* What decided a failed transaction, for its delivery state */
typedef enum
{
  DECIDED_NOT,
  DECIDED_SUCCESS,
  DECIDED_ENVELOPE,   /* a 4yz/5yz to MAIL, RCPT or DATA (or a 421) */
  DECIDED_MESSAGE,    /* a 4yz/5yz to the end of data, or during it */
  DECIDED_OTHER,      /* anything else: I/O, timeout, protocol... */
} Decision;

struct _Transact
{
  SmtpClientTransaction *transaction;    /* NULL once reported */
  GCancellable          *cancellable;
  gulong                 cancelled_id;
  TransactPhase          phase;
  SmtpClientEnvelope     envelope;
  gboolean               pipelined;
  guint                  pending;        /* replies due */
  guint                  next_rcpt;      /* one at a time: the next one */
  guint                  rcpt_replies;
  guint                  accepted;
  guint                  rcpt_transient; /* RCPTs refused with a 4yz */
  gboolean               mail_refused;
  gboolean               data_accepted;  /* 354 */
  gboolean               progress_due;   /* the owner has to hear */
  guint64                progress_bytes;
  guint64                end_offset;     /* writer position past its end
                                          * of data; 0: not queued */
  gboolean               end_answered;   /* a reply to it came */
  Decision               decision;
  gboolean               transient;
  GError                *error;          /* when decided and failed */
  /* The first refused recipient, until the policy decides about it */
  GError                *rcpt_error;
  guint                  rcpt_code;
  char                  *rcpt_reply;
  /* Monotonic times, 0 when not running */
  gint64                 envelope_start;
  gint64                 data_start;

  /* A server that takes only so many recipients per transaction (452
   * 4.5.3 to RCPT) gets the message again for the others, in further
   * rounds on this connection (RFC 5321 §4.5.3.1.10).  The recipients of
   * this round, as indexes into the transaction's and as the envelope's
   * list; those put off to the next round and the first reply that did */
  guint                 *round;
  const char           **round_addresses;  /* NULL-terminated */
  guint                  n_round;
  guint                 *deferred;
  guint                  n_deferred;
  GError                *deferred_error;
  guint                  deferred_code;
  char                  *deferred_reply;
  /* BDAT (RFC 3030) instead of DATA; without PIPELINING, a chunk's reply
   * is awaited before the next one goes */
  gboolean               bdat;
  gboolean               bdat_waiting;
  /* Refused during the content: RSET once the server has answered all */
  gboolean               needs_reset;
  /* LMTP: the recipients accepted in this round, whose replies come after
   * the end of data, and those replies so far */
  guint                 *accepted_list;
  guint                  lmtp_replies;
  guint                  lmtp_accepted;
  /* and the last of them that accepted the message: the task's reply
   * when the round delivers */
  SmtpClientReply       *lmtp_delivered;
  /* Earlier rounds whose end of data the server accepted, and its reply */
  guint                  rounds_delivered;
  guint                  delivered_code;
  char                  *delivered_reply;
};

struct _SmtpClientConnection
{
  GObject                          parent_instance;

  SmtpClientSettings              *settings;
  GMainContext                    *context;
  const SmtpClientConnectionHooks *hooks;     /* NULL once detached */
  gpointer                         hooks_data;
  Phase                            phase;
  guint                            debug;     /* of the transactions seen */
  SmtpClientTransaction           *opener;    /* the first one: the set-up
                                               * and the end are logged
                                               * to it */

  /* Streams */
  GSocketConnection               *socket_connection;
  GIOStream                       *stream;    /* the socket, or TLS on it */
  GPollableInputStream            *input;
  GPollableOutputStream           *output;
  GCancellable                    *io_cancellable; /* connect, TLS, reads
                                                    * of content */
  gboolean                         is_encrypted;

  /* Reader: what the server sent, not handled yet */
  GSource                         *read_source;
  guint8                          *in;
  gsize                            in_start;
  gsize                            in_end;
  gboolean                         in_eof;
  /* The last read filled less than it could: the socket has nothing
   * more, and asking again before the readable source fires would only
   * cost system calls and a GError (over TLS, several) */
  gboolean                         in_drained;
  /* The read source was set aside while a run was in progress (a nested
   * main loop); engine_run() brings it back when it ends */
  gboolean                         read_paused;
  gboolean                         next_is_unsolicited;
  GError                          *in_error;
  SmtpClientReplyParser           *parser;

  /* Writer: what goes out; never reallocated while it holds a secret
   * without being wiped */
  GSource                         *write_source;
  guint8                          *out;
  gsize                            out_size;
  gsize                            out_start;
  gsize                            out_end;
  gboolean                         out_has_secret;
  guint64                          queued_total;  /* bytes ever queued */
  guint64                          written_total; /* bytes ever written */

  /* The owner's start_time said: not yet */
  GSource                         *start_timer;

  /* Timer: one source, its deadline moved without a wake-up */
  GSource                         *timer;
  gint64                           timer_ready;   /* the source's ready
                                                   * time, -1 none */
  gint64                           deadline;
  gboolean                         timer_armed;
  gboolean                         progress;      /* since last armed */
  gboolean                         timed_out;

  /* Loop */
  gboolean                         running;
  gboolean                         run_again;
  gboolean                         ready_pending; /* the ready hook */
  gboolean                         closed_reported;
  SmtpClientConnection            *self_ref;   /* quitting on its own */

  /* Expected replies: a ring */
  Expect                          *expects;
  guint                            expects_size;
  guint                            expects_head;
  guint                            expects_length;

  /* Set-up */
  SmtpClientCapabilities          *capabilities; /* NULL: HELO */
  SmtpClientExtensions             extensions;
  SmtpClientSasl                  *sasl;
  guint                            auth_steps;
  GError                          *auth_error;   /* the mechanism's */
  gboolean                         tls_started;  /* STARTTLS done */
  gint                             stage;        /* SmtpClientTiming of the
                                                  * set-up, -1 none */
  gint64                           stage_start;

  /* Transactions, oldest first; and those to report */
  GQueue                           transacts;
  GQueue                           finished;
  gboolean                         quit_requested;
  gboolean                         retiring;     /* takes no new
                                                  * transactions */
  CloseMode                        close_mode;   /* while QUITTING */

  /* Content of the transaction uploading; with BDAT, the chunk being
   * encoded and how many went out */
  guint8                          *chunk;
  guint8                          *bdat;
  gsize                            bdat_length;
  guint                            bdat_chunks;
  GSource                         *content_source;
  gboolean                         content_reading; /* read_async */
  SmtpClientDataEncoder            encoder;
  gint64                           last_progress;
};

/* smtpclient-connection-io.c */
GError          *engine_timeout_error    (SmtpClientConnection *self);
void             engine_stop_writing     (SmtpClientConnection *self);
void             engine_wipe_output      (SmtpClientConnection *self,
                                          gsize                 from,
                                          gsize                 to);
gboolean         engine_read_more        (SmtpClientConnection *self);
SmtpClientReply *engine_take_reply       (SmtpClientConnection  *self,
                                          Transact              *log_to,
                                          GError               **error);
void             engine_update_timer     (SmtpClientConnection *self);

/* smtpclient-connection.c */
void             engine_close            (SmtpClientConnection *self);
void             engine_run              (SmtpClientConnection *self);
void             engine_fail             (SmtpClientConnection *self,
                                          GError               *error,
                                          const SmtpClientReply *reply,
                                          CloseMode             mode);
void             engine_expect           (SmtpClientConnection *self,
                                          SmtpClientCommand     command,
                                          Transact             *transact,
                                          guint                 index);
guint            engine_n_expected       (SmtpClientConnection *self);
void             engine_send             (SmtpClientConnection *self,
                                          Transact             *transact,
                                          const char           *command,
                                          gsize                 length,
                                          const char           *logged);
void             engine_send_secret      (SmtpClientConnection *self,
                                          const char           *command,
                                          gsize                 length,
                                          const char           *logged);
guint8          *engine_reserve          (SmtpClientConnection *self,
                                          gsize                 length);
void             engine_commit           (SmtpClientConnection *self,
                                          gsize                 length);
gsize            engine_pending_output   (SmtpClientConnection *self);
void             engine_flush            (SmtpClientConnection *self);
void             engine_log              (SmtpClientConnection *self,
                                          Transact             *transact,
                                          const char           *prefix,
                                          const char           *text,
                                          gssize                length);
void             engine_note             (SmtpClientConnection *self,
                                          const char           *text);
void             engine_stage            (SmtpClientConnection *self,
                                          gint                  stage);
void             engine_add_time         (SmtpClientTransaction *transaction,
                                          SmtpClientTiming      timing,
                                          gint64               *start);

void             engine_set_streams      (SmtpClientConnection *self,
                                          GIOStream            *stream);
void             engine_stop_reading     (SmtpClientConnection *self);
void             engine_resume_reading   (SmtpClientConnection *self);
void             engine_set_ready        (SmtpClientConnection *self);
void             engine_schedule_run     (SmtpClientConnection *self);
void             engine_run_at           (SmtpClientConnection *self,
                                          gint64                when);
GError          *engine_reply_error      (SmtpClientError       code,
                                          const char           *context,
                                          const SmtpClientReply *reply);
GError          *engine_closing_error    (const SmtpClientReply *reply);
GError          *engine_unexpected_error (SmtpClientCommand     command,
                                          const SmtpClientReply *reply);

/* smtpclient-connection-setup.c */
void             setup_connect           (SmtpClientConnection *self);
void             setup_start             (SmtpClientConnection *self);
void             setup_handle_reply      (SmtpClientConnection *self,
                                          const Expect         *expect,
                                          SmtpClientReply      *reply);

/* smtpclient-connection-outcome.c */
char            *transact_reply_text     (const SmtpClientReply *reply);
void             transact_decide_with    (Transact             *t,
                                          Decision              decision,
                                          GError               *error,
                                          guint                 code,
                                          const char           *text);
void             transact_finish         (SmtpClientConnection *self,
                                          Transact             *t);

/* smtpclient-connection-transaction.c */
Transact        *transact_new            (SmtpClientConnection  *self,
                                          SmtpClientTransaction *transaction,
                                          GCancellable          *cancellable);
void             transact_free           (Transact             *t);
void             transact_decide         (SmtpClientConnection *self,
                                          Transact             *t,
                                          Decision              decision,
                                          GError               *error,
                                          const SmtpClientReply *reply);
void             transact_handle_reply   (SmtpClientConnection *self,
                                          const Expect         *expect,
                                          SmtpClientReply      *reply);
gboolean         transact_handle_early_reply (SmtpClientConnection *self,
                                              SmtpClientReply      *reply);
void             transacts_advance       (SmtpClientConnection *self);
void             transacts_fail_all      (SmtpClientConnection *self,
                                          GError               *error,
                                          const SmtpClientReply *reply,
                                          gboolean              to_all);
void             transact_report         (SmtpClientConnection *self,
                                          Transact             *t);

/* smtpclient-connection-content.c */
void             upload_start            (SmtpClientConnection *self,
                                          Transact             *t);
void             upload_continue         (SmtpClientConnection *self,
                                          Transact             *t);
void             upload_stop             (SmtpClientConnection *self);
Transact        *transacts_get_uploading (SmtpClientConnection *self);
void             transact_report_progress (SmtpClientConnection *self);
Transact        *transacts_get_active    (SmtpClientConnection *self);

G_END_DECLS
