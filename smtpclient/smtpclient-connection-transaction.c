/* smtpclient-connection-transaction.c: transactions on a connection
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A transaction (Transact) goes QUEUED → ENVELOPE (MAIL, RCPT..., DATA;
 * with PIPELINING all in one write) → UPLOAD (the content, CR LF
 * normalised and dot-stuffed while it streams) → FINAL (the end of data
 * went out, its reply is due), or, once decided against, RESET (RSET, or
 * a lone "." after an unwanted 354, is answered last).
 *
 * The first decisive event fixes its outcome (smtpclient-connection-
 * outcome.c).  A server that takes only so many recipients at a time
 * (452 4.5.3 to RCPT) gets the message again for the others: the
 * transaction goes back to QUEUED for another round on this connection.
 *
 * Only one transaction is in ENVELOPE or UPLOAD at a time: replies come
 * in order, so the one uploading is the one whose DATA was answered last.
 * With PIPELINING the next envelope goes out in the same write as the end
 * of the previous content (RFC 2920 §3.1).
 */

#include "config.h"

#include <string.h>

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-private.h"

/* ---------------------------------------------------------------------- */
/* Life cycle */

static void
on_cancelled (GCancellable *cancellable,
              gpointer      user_data)
{
  /* Maybe in another thread: the loop looks at it, in its own context */
  engine_schedule_run (user_data);
}

Transact *
transact_new (SmtpClientConnection  *self,
              SmtpClientTransaction *transaction,
              GCancellable          *cancellable)
{
  Transact *t = g_new0 (Transact, 1);

  t->transaction = transaction;
  t->phase = TRANSACT_QUEUED;
  t->envelope.from = transaction->from;
  t->round = g_new (guint, transaction->n_recipients);
  t->round_addresses = g_new0 (const char *, transaction->n_recipients + 1);
  t->deferred = g_new (guint, transaction->n_recipients);
  t->accepted_list = g_new (guint, transaction->n_recipients);
  for (guint i = 0; i < transaction->n_recipients; i++)
    {
      t->round[i] = i;
      t->round_addresses[i] = transaction->recipients[i];
    }
  t->n_round = transaction->n_recipients;
  t->envelope.recipients = t->round_addresses;
  t->envelope.size = transaction->content_size;
  t->envelope.is_7bit = transaction->content_is_7bit;
  t->envelope.dsn_notify = transaction->dsn_notify;
  t->envelope.dsn_return = transaction->dsn_return;
  t->envelope.dsn_envelope_id = transaction->dsn_envelope_id;
  t->envelope.binary_mime = transaction->binary_mime;
  t->envelope.require_tls = transaction->require_tls;

  if (cancellable != NULL)
    {
      t->cancellable = g_object_ref (cancellable);
      t->cancelled_id = g_cancellable_connect (cancellable,
                                               G_CALLBACK (on_cancelled),
                                               self, NULL);
    }

  return t;
}

void
transact_free (Transact *t)
{
  if (t->cancelled_id != 0)
    g_cancellable_disconnect (t->cancellable, t->cancelled_id);
  g_clear_object (&t->cancellable);
  g_clear_error (&t->error);
  g_clear_error (&t->rcpt_error);
  g_free (t->rcpt_reply);
  g_free (t->round);
  g_free (t->round_addresses);
  g_free (t->deferred);
  g_free (t->accepted_list);
  g_clear_error (&t->deferred_error);
  g_free (t->deferred_reply);
  g_free (t->delivered_reply);
  g_clear_pointer (&t->lmtp_delivered, smtp_client_reply_free);
  g_free (t);
}

/* ---------------------------------------------------------------------- */
/* Envelope */

static void
send_rcpt (SmtpClientConnection *self,
           Transact             *t,
           guint                 index)
{
  g_autofree char *rcpt = smtp_client_envelope_build_rcpt (&t->envelope, index,
                                                           self->extensions);

  engine_send (self, t, rcpt, strlen (rcpt), NULL);
  engine_expect (self, SMTP_CLIENT_COMMAND_RCPT, t, index);
}

static void
send_data (SmtpClientConnection *self,
           Transact             *t)
{
  engine_send (self, t, "DATA", 4, NULL);
  engine_expect (self, SMTP_CLIENT_COMMAND_DATA, t, 0);
}

/* What the server offers that @t may use: REQUIRETLS only over TLS, BDAT
 * only when chunking is on (or the content is binary, which needs it) */
static SmtpClientExtensions
usable_extensions (SmtpClientConnection *self,
                   Transact             *t)
{
  SmtpClientExtensions usable = self->extensions;

  if (!self->is_encrypted)
    usable &= ~SMTP_CLIENT_EXTENSION_REQUIRETLS;
  if (!self->settings->chunking && !t->transaction->binary_mime)
    usable &= ~SMTP_CLIENT_EXTENSION_CHUNKING;

  return usable;
}

static void
start_envelope (SmtpClientConnection *self,
                Transact             *t)
{
  SmtpClientExtensions usable = usable_extensions (self, t);
  g_autofree char *mail = NULL;
  gboolean dsn_left_out = FALSE;
  guint64 size_limit = 0;
  GError *error = NULL;

  if (self->capabilities != NULL)
    size_limit = smtp_client_capabilities_get_size_limit (self->capabilities);
  if (!smtp_client_envelope_check (&t->envelope, usable, size_limit, &error))
    {
      /* Nothing sent: decided before MAIL */
      transact_decide (self, t, DECIDED_OTHER, error, NULL);
      transact_finish (self, t);
      return;
    }

  mail = smtp_client_envelope_build_mail (&t->envelope, usable,
                                          &dsn_left_out);
  if (dsn_left_out)
    engine_log (self, t, "-- ", "DSN not offered by the server: NOTIFY, RET "
                                "and ENVID left out", -1);

  t->phase = TRANSACT_ENVELOPE;
  t->bdat = (usable & SMTP_CLIENT_EXTENSION_CHUNKING) != 0;
  t->envelope_start = g_get_monotonic_time ();
  t->pipelined = (self->extensions & SMTP_CLIENT_EXTENSION_PIPELINING) != 0;

  engine_send (self, t, mail, strlen (mail), NULL);
  engine_expect (self, SMTP_CLIENT_COMMAND_MAIL, t, 0);

  if (!t->pipelined)
    /* One command at a time: each RCPT when the previous reply is in,
     * DATA when all are */
    return;

  /* RFC 2920: DATA ends the group.  BDAT chunks wait for the RCPT
   * replies: sent with them, the content would reach the accepted
   * recipients even when the refused-recipients policy says nobody */
  for (guint i = 0; i < t->n_round; i++)
    send_rcpt (self, t, i);
  if (!t->bdat)
    send_data (self, t);
}

/* ---------------------------------------------------------------------- */
/* Replies */

/* Decided, and the server owes it nothing: reset the server's state if
 * it is mid-transaction and more may follow, else it is finished */
static void
settle (SmtpClientConnection *self,
        Transact             *t)
{
  if (t->decision == DECIDED_NOT || t->pending > 0 ||
      t->phase == TRANSACT_UPLOAD || self->phase != PHASE_READY)
    return;

  /* (A transaction that succeeds in that phase has delivered in an
   * earlier round, and this one's envelope is still open; one refused
   * during its BDAT chunks has its transaction open too) */
  if ((t->phase == TRANSACT_ENVELOPE || t->needs_reset) &&
      !t->transaction->is_last)
    {
      t->needs_reset = FALSE;
      t->phase = TRANSACT_RESET;
      engine_send (self, t, "RSET", 4, NULL);
      engine_expect (self, SMTP_CLIENT_COMMAND_RSET, t, 0);
      return;
    }

  transact_finish (self, t);
}

static void
record_recipient_reply (Transact              *t,
                        guint                  index,
                        const SmtpClientReply *reply)
{
  SmtpClientTransaction *transaction = t->transaction;

  if (transaction->recipient_codes == NULL || index >= transaction->n_recipients)
    return;

  transaction->recipient_codes[index] = reply->code;
  g_free (transaction->recipient_replies[index]);
  transaction->recipient_replies[index] = transact_reply_text (reply);
}

/* The recipient at @position in this round, G_MAXUINT if none */
static guint
round_recipient (Transact *t,
                 guint     position)
{
  return position < t->n_round ? t->round[position] : G_MAXUINT;
}

/* @index is refused (to RCPT, or with LMTP after the end of data): listed,
 * and the first refusal kept for the policy to decide on */
static void
note_refusal (Transact              *t,
              guint                  index,
              const SmtpClientReply *reply)
{
  SmtpClientTransaction *transaction = t->transaction;
  const char *recipient = transaction->recipients[index];

  g_ptr_array_add (transaction->refused, g_strdup (recipient));
  if (reply->code / 100 == 4)
    t->rcpt_transient++;
  if (t->rcpt_error == NULL)
    {
      g_autofree char *what = g_strdup_printf (_("The server refused the "
                                                 "recipient <%s>"),
                                               recipient);

      t->rcpt_error = engine_reply_error (SMTP_CLIENT_ERROR_SERVER, what,
                                          reply);
      t->rcpt_code = reply->code;
      t->rcpt_reply = transact_reply_text (reply);
    }
}

static void
refuse_recipient (Transact              *t,
                  guint                  index,
                  const SmtpClientReply *reply)
{
  note_refusal (t, index, reply);

  /* One refused recipient fails the transaction: nothing is delivered to
   * anyone */
  if (!t->transaction->allow_refused_recipients)
    transact_decide_with (t, DECIDED_ENVELOPE, g_error_copy (t->rcpt_error),
                 t->rcpt_code, t->rcpt_reply);
}

/* Put off to the next round: the server has enough recipients for this
 * one */
static void
defer_recipient (Transact              *t,
                 guint                  index,
                 const SmtpClientReply *reply)
{
  t->deferred[t->n_deferred++] = index;
  if (t->deferred_error == NULL)
    {
      t->deferred_error = engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                              _("The server would not take "
                                                "more recipients"), reply);
      t->deferred_code = reply->code;
      t->deferred_reply = transact_reply_text (reply);
    }
}

/* Every recipient of the round has answered and none was accepted (or the
 * others cannot have the message): those put off are refused after all */
static void
round_none_accepted (Transact *t)
{
  SmtpClientTransaction *transaction = t->transaction;

  for (guint i = 0; i < t->n_deferred; i++)
    g_ptr_array_add (transaction->refused,
                     g_strdup (transaction->recipients[t->deferred[i]]));

  if (t->rounds_delivered > 0 && transaction->allow_refused_recipients)
    {
      /* Delivered to the recipients of an earlier round: that is enough */
      transact_decide_with (t, DECIDED_SUCCESS, NULL, t->delivered_code,
                   t->delivered_reply);
      return;
    }

  if (t->rcpt_error != NULL)
    transact_decide_with (t, DECIDED_ENVELOPE, g_error_copy (t->rcpt_error),
                 t->rcpt_code, t->rcpt_reply);
  else if (t->deferred_error != NULL)
    {
      /* Every one put off: the server takes none now; try later */
      t->transient = TRUE;
      transact_decide_with (t, DECIDED_ENVELOPE, g_error_copy (t->deferred_error),
                   t->deferred_code, t->deferred_reply);
    }
}

static void
handle_rcpt_reply (SmtpClientConnection  *self,
                   Transact              *t,
                   guint                  position,
                   SmtpClientVerdict      verdict,
                   const SmtpClientReply *reply)
{
  guint index = round_recipient (t, position);

  t->rcpt_replies++;
  record_recipient_reply (t, index, reply);

  /* After a refused MAIL the RCPTs that followed it in the pipeline are
   * refused for that reason alone */
  if (!t->mail_refused && index != G_MAXUINT)
    {
      if (verdict == SMTP_CLIENT_VERDICT_SUCCESS)
        t->accepted_list[t->accepted++] = index;
      else
        {
          g_autofree char *text = smtp_client_reply_to_string (reply);

          if (smtp_client_reply_says_too_many_recipients (reply->code, text))
            defer_recipient (t, index, reply);
          else
            refuse_recipient (t, index, reply);
        }
    }

  if (t->rcpt_replies < t->n_round)
    {
      if (!t->pipelined)
        send_rcpt (self, t, position + 1);
      return;
    }

  /* Every recipient answered */
  if (t->accepted == 0 && !t->mail_refused)
    round_none_accepted (t);

  if (t->decision != DECIDED_NOT)
    return;

  if (t->bdat)
    {
      /* No go-ahead to wait for: the content goes now, in chunks */
      engine_add_time (t->transaction, SMTP_CLIENT_TIMING_ENVELOPE,
                       &t->envelope_start);
      t->data_start = g_get_monotonic_time ();
      upload_start (self, t);
    }
  else if (!t->pipelined)
    send_data (self, t);
}

/* The end of data of a round was accepted: the recipients put off get the
 * message in a new round on this connection, if the content can be read
 * again; else the transaction is done */
static void
round_delivered (SmtpClientConnection  *self,
                 Transact              *t,
                 const SmtpClientReply *reply)
{
  SmtpClientTransaction *transaction = t->transaction;
  g_autofree char *note = NULL;

  if (t->n_deferred == 0)
    {
      transact_decide (self, t, DECIDED_SUCCESS, NULL, reply);
      return;
    }

  t->rounds_delivered++;
  t->delivered_code = reply->code;
  g_free (t->delivered_reply);
  t->delivered_reply = transact_reply_text (reply);

  if (!smtp_client_transaction_rewind_content (transaction))
    {
      /* A pipe: those put off cannot have it */
      for (guint i = 0; i < t->n_deferred; i++)
        g_ptr_array_add (transaction->refused,
                         g_strdup (transaction->recipients[t->deferred[i]]));
      if (transaction->allow_refused_recipients)
        transact_decide_with (t, DECIDED_SUCCESS, NULL, t->delivered_code,
                     t->delivered_reply);
      else
        transact_decide_with (t, DECIDED_ENVELOPE,
                     g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER,
                                  _("The server took only some of the "
                                    "recipients at a time, and the message "
                                    "cannot be read again for the others: "
                                    "%s"), t->deferred_error->message),
                     t->deferred_code, t->deferred_reply);
      return;
    }

  note = g_strdup_printf ("the server takes %u recipient%s at a time: the "
                          "message again, for %u more", t->accepted,
                          t->accepted == 1 ? "" : "s", t->n_deferred);
  engine_log (self, t, "-- ", note, -1);

  /* The next round: those put off */
  for (guint i = 0; i < t->n_deferred; i++)
    {
      t->round[i] = t->deferred[i];
      t->round_addresses[i] = transaction->recipients[t->deferred[i]];
    }
  t->round_addresses[t->n_deferred] = NULL;
  t->n_round = t->n_deferred;
  t->n_deferred = 0;
  g_clear_error (&t->deferred_error);
  g_clear_pointer (&t->deferred_reply, g_free);
  t->phase = TRANSACT_QUEUED;
  t->rcpt_replies = 0;
  t->accepted = 0;
  t->rcpt_transient = 0;
  t->data_accepted = FALSE;
  t->end_offset = 0;
  t->end_answered = FALSE;
  t->progress_bytes = 0;
  t->lmtp_replies = 0;
  t->lmtp_accepted = 0;
  g_clear_pointer (&t->lmtp_delivered, smtp_client_reply_free);
}

/* The server takes no more messages on this connection: the
 * transactions waiting for their turn on it go back, unattempted, to be
 * sent on another */
static void
retire (SmtpClientConnection *self)
{
  GList *l;

  if (self->retiring)
    return;

  self->retiring = TRUE;
  engine_note (self, "the server takes no more messages here: retiring the "
                     "connection");
  for (l = self->transacts.head; l != NULL; )
    {
      Transact *t = l->data;
      GList *next = l->next;

      if (t->phase == TRANSACT_QUEUED && t->decision == DECIDED_NOT &&
          t->rounds_delivered == 0)
        {
          transact_decide (self, t, DECIDED_OTHER,
                           g_error_new_literal (G_IO_ERROR,
                                                G_IO_ERROR_CONNECTION_CLOSED,
                                                _("The server took no more "
                                                  "messages on the "
                                                  "connection")),
                           NULL);
          transact_finish (self, t);
        }
      l = next;
    }
}

static void
handle_data_reply (SmtpClientConnection  *self,
                   Transact              *t,
                   SmtpClientVerdict      verdict,
                   const SmtpClientReply *reply)
{
  if (verdict == SMTP_CLIENT_VERDICT_REFUSED)
    {
      /* Refused as a whole: a 4yz says try later */
      if (t->decision == DECIDED_NOT)
        t->transient = reply->code / 100 == 4;
      transact_decide (self, t, DECIDED_ENVELOPE,
                       engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                           _("The server refused DATA"),
                                           reply),
                       reply);
      return;
    }

  /* 354 */
  if (t->decision == DECIDED_NOT)
    {
      engine_add_time (t->transaction, SMTP_CLIENT_TIMING_ENVELOPE,
                       &t->envelope_start);
      t->data_start = g_get_monotonic_time ();
      upload_start (self, t);
      return;
    }

  /* Go-ahead for a transaction already decided against (pipelined) */
  if (t->accepted == 0)
    {
      /* Nobody to deliver to: a lone "." ends it (RFC 2920 §3.1) */
      t->phase = TRANSACT_RESET;
      engine_send (self, t, ".", 1, NULL);
      engine_expect (self, SMTP_CLIENT_COMMAND_END, t, 0);
      return;
    }

  /* Ending the data would deliver an empty message to the accepted
   * recipients: drop the connection, the server discards it */
  engine_note (self, "closing the connection to abandon the transaction");
  engine_fail (self, NULL, NULL, CLOSE_NOW);
}

/* LMTP (RFC 2033 §4.2): after the end of data, one reply for each
 * recipient accepted in this round, in order; judged like refusals of
 * RCPT once all are in */
static void
handle_lmtp_reply (SmtpClientConnection  *self,
                   Transact              *t,
                   guint                  position,
                   SmtpClientVerdict      verdict,
                   const SmtpClientReply *reply)
{
  SmtpClientTransaction *transaction = t->transaction;
  guint index = position < t->accepted ? t->accepted_list[position]
                                       : G_MAXUINT;

  t->lmtp_replies++;
  if (index != G_MAXUINT)
    {
      record_recipient_reply (t, index, reply);
      if (verdict == SMTP_CLIENT_VERDICT_SUCCESS)
        {
          t->lmtp_accepted++;
          g_clear_pointer (&t->lmtp_delivered, smtp_client_reply_free);
          t->lmtp_delivered = smtp_client_reply_copy (reply);
        }
      else
        note_refusal (t, index, reply);
    }

  if (t->lmtp_replies < t->accepted)
    return;

  /* Delivered: the reply is a mailbox's 250, not the last reply (with
   * refused recipients allowed, that may be another one's refusal) */
  if (t->lmtp_accepted == t->accepted)
    round_delivered (self, t, t->lmtp_delivered);
  else if (t->lmtp_accepted > 0 && transaction->allow_refused_recipients)
    /* Delivered to some mailboxes: enough, by the policy */
    round_delivered (self, t, t->lmtp_delivered);
  else
    {
      /* Nobody has it (worth another attempt if every refusal was a
       * 4yz and no round delivered), or some have it against the policy:
       * refused */
      if (t->lmtp_accepted == 0 && t->rcpt_transient == t->accepted &&
          t->rounds_delivered == 0)
        t->transient = TRUE;
      transact_decide_with (t, t->lmtp_accepted == 0 ? DECIDED_ENVELOPE
                                                     : DECIDED_MESSAGE,
                            g_error_copy (t->rcpt_error), t->rcpt_code,
                            t->rcpt_reply);
    }
}

void
transact_handle_reply (SmtpClientConnection *self,
                       const Expect         *expect,
                       SmtpClientReply      *reply)
{
  Transact *t = expect->transact;
  SmtpClientVerdict verdict = smtp_client_reply_judge (expect->command,
                                                       reply->code);

  if (t->transaction != NULL)
    t->transaction->was_attempted = TRUE;

  if (verdict == SMTP_CLIENT_VERDICT_CLOSING ||
      verdict == SMTP_CLIENT_VERDICT_UNEXPECTED)
    {
      gboolean closing = verdict == SMTP_CLIENT_VERDICT_CLOSING;
      gboolean is_final = expect->command == SMTP_CLIENT_COMMAND_END &&
                          t->phase == TRANSACT_FINAL;
      GError *error;

      if (expect->command == SMTP_CLIENT_COMMAND_RCPT)
        record_recipient_reply (t, round_recipient (t, expect->index), reply);

      if (closing)
        error = engine_closing_error (reply);
      else
        error = engine_unexpected_error (expect->command, reply);

      /* A 421 turns the transaction away as a whole (try again later);
       * to the end of data it refuses the message */
      if (closing && !is_final && t->decision == DECIDED_NOT)
        t->transient = TRUE;
      transact_decide (self, t,
                       closing ? (is_final ? DECIDED_MESSAGE : DECIDED_ENVELOPE)
                               : DECIDED_OTHER,
                       error, reply);
      engine_fail (self, NULL, reply,
                   closing || reply->code == 221 ? CLOSE_QUIT_NOW : CLOSE_NOW);
      return;
    }

  switch (expect->command)
    {
    case SMTP_CLIENT_COMMAND_MAIL:
      if (verdict == SMTP_CLIENT_VERDICT_REFUSED)
        {
          t->mail_refused = TRUE;
          if (t->decision == DECIDED_NOT)
            t->transient = reply->code / 100 == 4;
          /* A 4yz to MAIL (OpenSMTPD's "452 4.5.3 Too many messages", a
           * server short of resources): this connection is done */
          if (reply->code / 100 == 4)
            retire (self);
          transact_decide (self, t, DECIDED_ENVELOPE,
                           engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                               _("The server refused the "
                                                 "sender"), reply),
                           reply);
        }
      else if (!t->pipelined)
        send_rcpt (self, t, 0);
      break;

    case SMTP_CLIENT_COMMAND_RCPT:
      handle_rcpt_reply (self, t, expect->index, verdict, reply);
      break;

    case SMTP_CLIENT_COMMAND_DATA:
      handle_data_reply (self, t, verdict, reply);
      break;

    case SMTP_CLIENT_COMMAND_END:
      /* (The lone "." of a transaction decided before; or the last BDAT
       * chunk of one refused at an earlier chunk) */
      if (t->phase != TRANSACT_FINAL || t->decision != DECIDED_NOT)
        break;
      t->end_answered = TRUE;
      engine_add_time (t->transaction, SMTP_CLIENT_TIMING_DATA,
                       &t->data_start);
      if (self->settings->protocol == SMTP_CLIENT_PROTOCOL_LMTP)
        handle_lmtp_reply (self, t, expect->index, verdict, reply);
      else if (verdict == SMTP_CLIENT_VERDICT_SUCCESS)
        round_delivered (self, t, reply);
      else
        transact_decide (self, t, DECIDED_MESSAGE,
                         engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                             _("The server refused the "
                                               "message"), reply),
                         reply);
      break;

    case SMTP_CLIENT_COMMAND_BDAT:
      t->bdat_waiting = FALSE;
      if (verdict == SMTP_CLIENT_VERDICT_SUCCESS || t->decision != DECIDED_NOT)
        break;
      /* RFC 3030 §4.2: no further chunk after a refused one; the server
       * discards those already on their way, then gets RSET */
      transact_decide (self, t, DECIDED_MESSAGE,
                       engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                           _("The server refused the "
                                             "message"), reply),
                       reply);
      if (t->phase == TRANSACT_UPLOAD)
        {
          /* The content is logged in one line once all of it is out;
           * stopped before, it would not appear at all */
          g_autofree char *note = NULL;

          note = g_strdup_printf ("upload stopped: %" G_GUINT64_FORMAT
                                  " bytes of the message sent in %u BDAT "
                                  "chunk%s", self->encoder.bytes_in,
                                  self->bdat_chunks,
                                  self->bdat_chunks == 1 ? "" : "s");
          engine_log (self, t, "-- ", note, -1);
          t->phase = TRANSACT_RESET;
        }
      t->needs_reset = TRUE;
      break;

    case SMTP_CLIENT_COMMAND_RSET:
      if (verdict != SMTP_CLIENT_VERDICT_SUCCESS)
        {
          /* Out of step with the server: do not go on */
          transact_finish (self, t);
          engine_fail (self, NULL, reply, CLOSE_QUIT);
          return;
        }
      break;

    case SMTP_CLIENT_COMMAND_GREETING:
    case SMTP_CLIENT_COMMAND_EHLO:
    case SMTP_CLIENT_COMMAND_HELO:
    case SMTP_CLIENT_COMMAND_STARTTLS:
    case SMTP_CLIENT_COMMAND_AUTH:
    case SMTP_CLIENT_COMMAND_AUTH_CANCEL:
    case SMTP_CLIENT_COMMAND_NOOP:
    case SMTP_CLIENT_COMMAND_QUIT:
    case SMTP_CLIENT_N_COMMANDS:
    default:
      g_assert_not_reached ();
    }

  settle (self, t);
}

gboolean
transact_handle_early_reply (SmtpClientConnection *self,
                             SmtpClientReply      *reply)
{
  Transact *t = transacts_get_uploading (self);
  SmtpClientVerdict verdict;

  if (t == NULL)
    return FALSE;

  t->transaction->was_attempted = TRUE;

  /* Judged as the answer to the end of data it comes before: a refusal
   * stops the upload; anything else is out of step.  Either way the data
   * cannot be ended cleanly: drop the connection. */
  verdict = smtp_client_reply_judge (SMTP_CLIENT_COMMAND_END, reply->code);
  if (verdict == SMTP_CLIENT_VERDICT_REFUSED ||
      verdict == SMTP_CLIENT_VERDICT_CLOSING)
    transact_decide (self, t, DECIDED_MESSAGE,
                     engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                         _("The server refused the message "
                                           "while it was being sent"), reply),
                     reply);
  else
    transact_decide (self, t, DECIDED_OTHER,
                     engine_reply_error (SMTP_CLIENT_ERROR_PROTOCOL,
                                         _("The server replied before the end "
                                           "of the message"), reply),
                     reply);

  engine_fail (self, NULL, reply, CLOSE_NOW);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Starting what can start */

/* Whether the owner lets @t's MAIL go out now (its message rate); if
 * not, the loop runs again when it will */
static gboolean
may_start (SmtpClientConnection *self,
           Transact             *t)
{
  gint64 when;

  if (self->hooks == NULL || self->hooks->start_time == NULL)
    return TRUE;

  when = self->hooks->start_time (self, t->transaction, self->hooks_data);
  if (when <= g_get_monotonic_time ())
    return TRUE;

  engine_run_at (self, when);
  return FALSE;
}

void
transacts_advance (SmtpClientConnection *self)
{
  GList *l;

  /* Cancelled ones: those that sent nothing just leave; for one on the
   * wire, closing the connection is the only way to be sure it is not
   * delivered */
  for (l = self->transacts.head; l != NULL; )
    {
      Transact *t = l->data;
      GList *next = l->next;

      if (t->decision == DECIDED_NOT && t->cancellable != NULL &&
          g_cancellable_is_cancelled (t->cancellable))
        {
          transact_decide (self, t, DECIDED_OTHER,
                           g_error_new_literal (G_IO_ERROR,
                                                G_IO_ERROR_CANCELLED,
                                                _("Operation was cancelled")),
                           NULL);
          if (t->phase != TRANSACT_QUEUED)
            {
              engine_note (self, "closing the connection to cancel the "
                                 "transaction");
              engine_fail (self, NULL, NULL, CLOSE_NOW);
              return;
            }
          transact_finish (self, t);
        }
      l = next;
    }

  if (self->phase != PHASE_READY)
    return;

  for (l = self->transacts.head; l != NULL; l = l->next)
    {
      Transact *t = l->data;

      if (t->phase == TRANSACT_UPLOAD)
        {
          upload_continue (self, t);
          break;
        }
    }

  while (self->phase == PHASE_READY)
    {
      Transact *queued = NULL;
      gboolean busy = FALSE;

      for (l = self->transacts.head; l != NULL; l = l->next)
        {
          Transact *t = l->data;

          if (t->phase == TRANSACT_ENVELOPE || t->phase == TRANSACT_UPLOAD)
            busy = TRUE;
          else if (t->phase == TRANSACT_QUEUED && queued == NULL &&
                   (!self->retiring || t->rounds_delivered > 0))
            queued = t;
        }

      if (queued == NULL || busy ||
          (!(self->extensions & SMTP_CLIENT_EXTENSION_PIPELINING) &&
           self->expects_length > 0) ||
          !may_start (self, queued))
        return;

      start_envelope (self, queued);
    }
}
