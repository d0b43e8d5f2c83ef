/* smtpclient-connection-outcome.c: how a transaction's outcome is fixed
 * and reported
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The first decisive event fixes a transaction's outcome
 * (transact_decide()): the 250 to the end of data, a refusal, or any
 * failure; nothing that happens while cleaning up changes it.  When the
 * connection fails, every transaction still on it is decided at once
 * (transacts_fail_all()).  A decided transaction is reported to the
 * owner when the server owes it nothing more (transact_report()), with
 * its delivery state worked out from what reached the server.
 */

#include "config.h"

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-private.h"

char *
transact_reply_text (const SmtpClientReply *reply)
{
  return smtp_client_reply_to_display (reply);
}

/* transact_decide_with(), taking @text (transfer full) */
static void
decide_taking (Transact   *t,
               Decision    decision,
               GError     *error,
               guint       code,
               char       *text)
{
  SmtpClientTransaction *transaction = t->transaction;

  if (t->decision != DECIDED_NOT)
    {
      g_clear_error (&error);
      g_free (text);
      return;
    }

  t->decision = decision;
  t->error = error;
  if (transaction != NULL)
    {
      transaction->reply_code = code;
      g_free (transaction->reply);
      transaction->reply = text;
    }
  else
    g_free (text);
}

void
transact_decide_with (Transact   *t,
                      Decision    decision,
                      GError     *error,
                      guint       code,
                      const char *text)
{
  if (t->decision != DECIDED_NOT)
    {
      g_clear_error (&error);
      return;
    }

  decide_taking (t, decision, error, code, g_strdup (text));
}

/* Fix @t's outcome, unless it is fixed already: @error (transfer full) is
 * NULL for success; @reply (may be NULL) the reply that decided it */
void
transact_decide (SmtpClientConnection  *self,
                 Transact              *t,
                 Decision               decision,
                 GError                *error,
                 const SmtpClientReply *reply)
{
  if (t->decision != DECIDED_NOT)
    {
      g_clear_error (&error);
      return;
    }

  decide_taking (t, decision, error, reply != NULL ? reply->code : 0,
                 reply != NULL ? transact_reply_text (reply) : NULL);
}

/* @t leaves the connection; the loop reports it */
void
transact_finish (SmtpClientConnection *self,
                 Transact             *t)
{
  g_queue_remove (&self->transacts, t);
  g_queue_push_tail (&self->finished, t);
}

static GError *
connection_lost_error (void)
{
  return g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                              _("The connection was lost before the server "
                                "answered"));
}

/* The transaction the server is dealing with now: the one whose reply is
 * due first, else the one uploading, else the one the connection was
 * opened for, until it starts */
Transact *
transacts_get_active (SmtpClientConnection *self)
{
  if (self->expects_length > 0)
    {
      Expect *expect = &self->expects[self->expects_head];

      if (expect->transact != NULL)
        return expect->transact;
    }

  for (GList *l = self->transacts.head; l != NULL; l = l->next)
    {
      Transact *t = l->data;

      if (t->phase == TRANSACT_UPLOAD)
        return t;
    }

  /* The transaction the connection was opened for, while it has not
   * started: what goes wrong before is the connection's, so its own */
  {
    Transact *head = g_queue_peek_head (&self->transacts);

    if (head != NULL && head->phase == TRANSACT_QUEUED &&
        head->transaction == self->opener)
      return head;
  }

  return NULL;
}

/* Decide every transaction still open and move them all to the finished:
 * the active one with @error (transfer full; @reply the reply behind it),
 * every one with it when @to_all, the others with "connection lost".
 * Without @error the one that caused the failure has been decided
 * already: every other one is a bystander. */
void
transacts_fail_all (SmtpClientConnection  *self,
                    GError                *error,
                    const SmtpClientReply *reply,
                    gboolean               to_all)
{
  Transact *active = error != NULL ? transacts_get_active (self) : NULL;
  Transact *t;

  if (active != NULL && active->transaction != NULL && !to_all)
    active->transaction->was_attempted = TRUE;

  while ((t = g_queue_pop_head (&self->transacts)) != NULL)
    {
      if (error != NULL && to_all)
        transact_decide (self, t, DECIDED_OTHER, g_error_copy (error), reply);
      else if (t == active && error != NULL)
        transact_decide (self, t, DECIDED_OTHER, g_steal_pointer (&error),
                         reply);
      else
        transact_decide (self, t, DECIDED_OTHER, connection_lost_error (),
                         NULL);
      g_queue_push_tail (&self->finished, t);
    }

  g_clear_error (&error);
}

/* Errors that may pass with time: the connection was refused, lost or
 * timed out, or the server said 4yz or 421 while setting up */
static gboolean
is_transient_error (const GError *error,
                    guint         reply_code)
{
  if (error == NULL)
    return FALSE;

  if (g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_TIMEOUT))
    return TRUE;

  if (g_error_matches (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_SERVER))
    return reply_code / 100 == 4;

  if (g_error_matches (error, G_RESOLVER_ERROR,
                       G_RESOLVER_ERROR_TEMPORARY_FAILURE))
    return TRUE;

  if (error->domain != G_IO_ERROR)
    return FALSE;

  switch (error->code)
    {
    case G_IO_ERROR_CONNECTION_REFUSED:
    case G_IO_ERROR_CONNECTION_CLOSED: /* also G_IO_ERROR_BROKEN_PIPE */
    case G_IO_ERROR_NOT_CONNECTED:
    case G_IO_ERROR_CLOSED:
    case G_IO_ERROR_TIMED_OUT:
    case G_IO_ERROR_HOST_UNREACHABLE:
    case G_IO_ERROR_NETWORK_UNREACHABLE:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Tell the owner: the delivery state, from what reached the server */
void
transact_report (SmtpClientConnection *self,
                 Transact             *t)
{
  SmtpClientTransaction *transaction = g_steal_pointer (&t->transaction);
  gboolean end_reached = t->end_offset > 0 &&
                         self->written_total >= t->end_offset;
  SmtpClientDeliveryState state;
  gboolean transient = FALSE;

  if (transaction == NULL)
    return;

  engine_add_time (transaction, SMTP_CLIENT_TIMING_ENVELOPE,
                   &t->envelope_start);
  engine_add_time (transaction, SMTP_CLIENT_TIMING_DATA, &t->data_start);

  switch (t->decision)
    {
    case DECIDED_SUCCESS:
      state = SMTP_CLIENT_DELIVERY_STATE_ACCEPTED;
      break;

    case DECIDED_MESSAGE:
      state = SMTP_CLIENT_DELIVERY_STATE_REFUSED;
      break;

    case DECIDED_ENVELOPE:
      /* Turned away as a whole with a 4yz (MAIL, DATA, every RCPT) or a
       * 421: nothing was taken, try later; else refused */
      transient = t->transient ||
                  (t->rcpt_transient > 0 && t->accepted == 0 &&
                   t->rcpt_transient == t->n_round);
      state = transient ? SMTP_CLIENT_DELIVERY_STATE_NOT_SENT
                        : SMTP_CLIENT_DELIVERY_STATE_REFUSED;
      break;

    case DECIDED_OTHER:
    case DECIDED_NOT:
    default:
      if (end_reached)
        state = SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN;
      else
        {
          state = SMTP_CLIENT_DELIVERY_STATE_NOT_SENT;
          transient = is_transient_error (t->error, transaction->reply_code);
        }
      break;
    }

  /* The server has the message for the recipients of an earlier round:
   * whatever became of the others, sending it again would duplicate it */
  if (t->rounds_delivered > 0 && state != SMTP_CLIENT_DELIVERY_STATE_ACCEPTED)
    {
      transient = FALSE;
      if (state == SMTP_CLIENT_DELIVERY_STATE_NOT_SENT)
        state = t->decision == DECIDED_OTHER
                ? SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN
                : SMTP_CLIENT_DELIVERY_STATE_REFUSED;
    }

  transaction->state = state;
  transaction->is_transient = transient;
  self->hooks->finished (self, transaction, g_steal_pointer (&t->error),
                         self->hooks_data);
}
