/* smtpclient-transaction.c: one mail transaction, as the session and the
 * engine carry it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-private.h"
#include "smtpclient-reply-private.h"
#include "smtpclient-transaction-private.h"

SmtpClientTransaction *
smtp_client_transaction_new (void)
{
  SmtpClientTransaction *transaction = g_new0 (SmtpClientTransaction, 1);

  transaction->ref_count = 1;
  transaction->state = SMTP_CLIENT_DELIVERY_STATE_PENDING;
  transaction->refused = g_ptr_array_new_with_free_func (g_free);

  return transaction;
}

static void
clear_recipient_replies (SmtpClientTransaction *transaction)
{
  if (transaction->recipient_replies != NULL)
    for (guint i = 0; i < transaction->n_recipients; i++)
      g_clear_pointer (&transaction->recipient_replies[i], g_free);
}

SmtpClientTransaction *
smtp_client_transaction_ref (SmtpClientTransaction *transaction)
{
  transaction->ref_count++;
  return transaction;
}

void
smtp_client_transaction_clear_hooks (SmtpClientTransaction *transaction)
{
  transaction->log_func = NULL;
  transaction->progress_func = NULL;
  transaction->accept_func = NULL;
  transaction->owner = NULL;
}

void
smtp_client_transaction_unref (SmtpClientTransaction *transaction)
{
  if (transaction == NULL || --transaction->ref_count > 0)
    return;

  clear_recipient_replies (transaction);
  g_free (transaction->recipient_replies);
  g_free (transaction->recipient_codes);
  g_free (transaction->from);
  g_strfreev (transaction->recipients);
  g_clear_object (&transaction->content);
  g_free (transaction->dsn_envelope_id);
  g_free (transaction->alias);
  g_free (transaction->reply);
  g_ptr_array_unref (transaction->refused);
  g_free (transaction);
}

gboolean
smtp_client_transaction_rewind_content (SmtpClientTransaction *transaction)
{
  GSeekable *seekable;

  if (!transaction->content_touched)
    return TRUE;

  /* The content was read: it has to be read again from the start */
  seekable = G_IS_SEEKABLE (transaction->content)
             ? G_SEEKABLE (transaction->content) : NULL;
  if (seekable == NULL || !g_seekable_can_seek (seekable) ||
      !g_seekable_seek (seekable, 0, G_SEEK_SET, NULL, NULL))
    return FALSE;

  transaction->content_touched = FALSE;
  return TRUE;
}

gboolean
smtp_client_transaction_begin_attempt (SmtpClientTransaction *transaction)
{
  if (!smtp_client_transaction_rewind_content (transaction))
    return FALSE;

  if (transaction->recipient_codes == NULL)
    {
      transaction->recipient_codes = g_new0 (guint, transaction->n_recipients);
      transaction->recipient_replies = g_new0 (char *, transaction->n_recipients);
    }
  else
    {
      clear_recipient_replies (transaction);
      memset (transaction->recipient_codes, 0,
              transaction->n_recipients * sizeof (guint));
    }

  transaction->state = SMTP_CLIENT_DELIVERY_STATE_PENDING;
  transaction->reply_code = 0;
  g_clear_pointer (&transaction->reply, g_free);
  g_ptr_array_set_size (transaction->refused, 0);
  transaction->is_transient = FALSE;
  transaction->was_attempted = FALSE;
  transaction->content_touched = FALSE;

  return TRUE;
}

void
smtp_client_transaction_log (SmtpClientTransaction *transaction,
                             guint                  debug,
                             const char            *prefix,
                             const char            *text,
                             gssize                 length)
{
  g_autofree char *escaped = NULL;
  g_autofree char *line = NULL;
  const char *alias = NULL;

  if (transaction != NULL)
    {
      debug = transaction->debug;
      alias = transaction->alias;
    }

  if (debug == 0 && (transaction == NULL || transaction->log_func == NULL))
    return;

  escaped = smtp_client_text_escape (text, length);
  line = g_strconcat (prefix, escaped, NULL);

  if (debug > 0)
    {
      if (alias != NULL)
        g_debug ("[%s] %s", alias, line);
      else
        g_debug ("%s", line);
    }

  if (transaction != NULL && transaction->log_func != NULL)
    transaction->log_func (line, transaction->owner);
}
