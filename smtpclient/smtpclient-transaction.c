/* smtpclient-transaction.c: one mail transaction, as the session and the
 * engine carry it
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gfiledescriptorbased.h>
#include <glib/gstdio.h>

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
  transaction->content_fd = -1;

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
  if (transaction->content_fd_owned)
    g_close (transaction->content_fd, NULL);
  g_free (transaction->dsn_envelope_id);
  g_free (transaction->alias);
  g_free (transaction->reply);
  g_ptr_array_unref (transaction->refused);
  g_free (transaction);
}

/* A regular file's descriptor and its size from @start (-1: from the
 * current position), in one fstat(); FALSE for anything else (a pipe, a
 * socket, a device) */
static gboolean
is_regular_file (int      fd,
                 gint64  *start,
                 guint64 *size)
{
  struct stat st;

  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;

  if (*start < 0)
    {
      *start = lseek (fd, 0, SEEK_CUR);
      if (*start < 0)
        return FALSE;
    }

  *size = st.st_size > *start ? (guint64) (st.st_size - *start) : 0;
  return TRUE;
}

gboolean
smtp_client_transaction_set_content (SmtpClientTransaction *transaction,
                                     GInputStream          *content)
{
  gint64 start = -1;
  guint64 size = 0;
  int fd;

  g_set_object (&transaction->content, content);
  transaction->content_fd = -1;

  /* GLocalFileInputStream and GUnixInputStream: no buffer of their own,
   * so reading their descriptor is reading them */
  if (!G_IS_FILE_DESCRIPTOR_BASED (content))
    return FALSE;
  fd = g_file_descriptor_based_get_fd (G_FILE_DESCRIPTOR_BASED (content));
  if (fd < 0 || !is_regular_file (fd, &start, &size))
    return FALSE;

  transaction->content_fd = fd;
  transaction->content_start = start;
  /* An empty file is content of unknown size: it ends at the first read */
  transaction->content_size = size;
  return TRUE;
}

gboolean
smtp_client_transaction_open_file (SmtpClientTransaction *transaction,
                                   GFile                 *file)
{
  const char *path = g_file_peek_path (file);
  GStatBuf st;
  gint64 start = 0;
  guint64 size = 0;
  int fd;

  /* Not even opened unless it is a regular file: a reader that opens and
   * closes a FIFO may let its writer in only to meet a closed pipe */
  if (path == NULL || g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;

  /* O_NONBLOCK: should it have become a FIFO since, not to wait here */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    return FALSE;
  if (!is_regular_file (fd, &start, &size))
    {
      g_close (fd, NULL);
      return FALSE;
    }

  /* No stream: the descriptor is all the engine reads, and a
   * GUnixInputStream would cost three system calls to find that it
   * cannot be polled */
  g_clear_object (&transaction->content);
  transaction->content_fd = fd;
  transaction->content_fd_owned = TRUE;
  transaction->content_start = start;
  transaction->content_size = size;
  return TRUE;
}

gssize
smtp_client_transaction_read_file (SmtpClientTransaction  *transaction,
                                   void                   *buffer,
                                   gsize                   count,
                                   GError                **error)
{
  gssize n;

  do
    n = read (transaction->content_fd, buffer, count);
  while (n < 0 && errno == EINTR);

  if (n < 0)
    {
      int saved_errno = errno;

      g_set_error_literal (error, G_IO_ERROR,
                           g_io_error_from_errno (saved_errno),
                           g_strerror (saved_errno));
    }

  return n;
}

gboolean
smtp_client_transaction_rewind_content (SmtpClientTransaction *transaction)
{
  GSeekable *seekable;

  if (!transaction->content_touched)
    return TRUE;

  if (transaction->content_fd >= 0)
    {
      if (lseek (transaction->content_fd, transaction->content_start,
                 SEEK_SET) != transaction->content_start)
        return FALSE;
      transaction->content_touched = FALSE;
      return TRUE;
    }

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
