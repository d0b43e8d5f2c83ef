/* smtpclient-envelope.c: the MAIL and RCPT commands of a transaction
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "smtpclient-envelope-private.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"

gboolean
smtp_client_address_validate (const char  *address,
                              gboolean     may_be_empty,
                              GError     **error)
{
  smtp_client_init_i18n ();

  if (*address == '\0' && !may_be_empty)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("A recipient address is empty"));
      return FALSE;
    }

  if (!g_utf8_validate (address, -1, NULL))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("An address is not valid UTF-8"));
      return FALSE;
    }

  for (const char *p = address; *p != '\0'; p++)
    {
      guchar c = *p;

      if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == ' ')
        {
          g_autofree char *shown = g_strescape (address, NULL);

          g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                       _("The address “%s” contains a character that is not "
                         "allowed (a control character, a space, “<” or "
                         "“>”): give the bare address"), shown);
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
is_ascii (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p >= 0x80)
      return FALSE;

  return TRUE;
}

gboolean
smtp_client_envelope_needs_smtputf8 (const SmtpClientEnvelope *envelope)
{
  if (!is_ascii (envelope->from))
    return TRUE;

  for (guint i = 0; envelope->recipients[i] != NULL; i++)
    if (!is_ascii (envelope->recipients[i]))
      return TRUE;

  return FALSE;
}

gboolean
smtp_client_envelope_check (const SmtpClientEnvelope  *envelope,
                            SmtpClientExtensions       offered,
                            guint64                    size_limit,
                            GError                   **error)
{
  smtp_client_init_i18n ();

  if (!(offered & SMTP_CLIENT_EXTENSION_SMTPUTF8) &&
      smtp_client_envelope_needs_smtputf8 (envelope))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                           _("An address is not ASCII and the server does "
                             "not offer SMTPUTF8"));
      return FALSE;
    }

  if (envelope->binary_mime &&
      (offered & (SMTP_CLIENT_EXTENSION_BINARYMIME | SMTP_CLIENT_EXTENSION_CHUNKING)) !=
      (SMTP_CLIENT_EXTENSION_BINARYMIME | SMTP_CLIENT_EXTENSION_CHUNKING))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                           _("The message is to be sent as binary MIME and "
                             "the server does not offer BINARYMIME with "
                             "CHUNKING"));
      return FALSE;
    }

  if (envelope->require_tls && !(offered & SMTP_CLIENT_EXTENSION_REQUIRETLS))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                           _("The message requires TLS all the way "
                             "(REQUIRETLS), and the connection is not "
                             "encrypted or the server does not offer "
                             "REQUIRETLS"));
      return FALSE;
    }

  if ((offered & SMTP_CLIENT_EXTENSION_SIZE) && size_limit > 0 &&
      envelope->size > size_limit)
    {
      g_set_error (error, SMTP_CLIENT_ERROR,
                   SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE,
                   _("The message (%" PRIu64 " bytes) is larger "
                     "than the server accepts (%" PRIu64 " bytes)"),
                   envelope->size, size_limit);
      return FALSE;
    }

  return TRUE;
}

char *
smtp_client_xtext_encode (const char *text)
{
  static const char hex[] = "0123456789ABCDEF";
  GString *out = g_string_sized_new (strlen (text));

  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      if (*p < 33 || *p > 126 || *p == '+' || *p == '=')
        {
          g_string_append_c (out, '+');
          g_string_append_c (out, hex[*p >> 4]);
          g_string_append_c (out, hex[*p & 0xf]);
        }
      else
        g_string_append_c (out, *p);
    }

  return g_string_free (out, FALSE);
}

static gboolean
wants_dsn (const SmtpClientEnvelope *envelope)
{
  return envelope->dsn_notify != 0 ||
         envelope->dsn_return != SMTP_CLIENT_DSN_RETURN_DEFAULT ||
         envelope->dsn_envelope_id != NULL;
}

char *
smtp_client_envelope_build_mail (const SmtpClientEnvelope *envelope,
                                 SmtpClientExtensions      offered,
                                 gboolean                 *dsn_left_out)
{
  GString *mail = g_string_sized_new (128);
  gboolean needs_smtputf8 = smtp_client_envelope_needs_smtputf8 (envelope);

  g_string_append (mail, "MAIL FROM:<");
  g_string_append (mail, envelope->from);
  g_string_append_c (mail, '>');

  if ((offered & SMTP_CLIENT_EXTENSION_SIZE) && envelope->size > 0)
    {
      char number[24];

      g_string_append (mail, " SIZE=");
      g_string_append_len (mail, number,
                           g_snprintf (number, sizeof number,
                                       "%" G_GUINT64_FORMAT, envelope->size));
    }

  /* A content of unknown 8-bitness is declared 8-bit when the server takes
   * it: declaring 7-bit content 8-bit is harmless, the reverse is not */
  if (envelope->binary_mime && (offered & SMTP_CLIENT_EXTENSION_BINARYMIME))
    g_string_append (mail, " BODY=BINARYMIME");
  else if ((offered & SMTP_CLIENT_EXTENSION_8BITMIME) &&
           (!envelope->is_7bit || needs_smtputf8))
    g_string_append (mail, " BODY=8BITMIME");

  if (needs_smtputf8 && (offered & SMTP_CLIENT_EXTENSION_SMTPUTF8))
    g_string_append (mail, " SMTPUTF8");

  if (envelope->require_tls && (offered & SMTP_CLIENT_EXTENSION_REQUIRETLS))
    g_string_append (mail, " REQUIRETLS");

  if (dsn_left_out != NULL)
    *dsn_left_out = FALSE;
  if (wants_dsn (envelope))
    {
      if (!(offered & SMTP_CLIENT_EXTENSION_DSN))
        {
          if (dsn_left_out != NULL)
            *dsn_left_out = TRUE;
        }
      else
        {
          if (envelope->dsn_return == SMTP_CLIENT_DSN_RETURN_FULL)
            g_string_append (mail, " RET=FULL");
          else if (envelope->dsn_return == SMTP_CLIENT_DSN_RETURN_HEADERS)
            g_string_append (mail, " RET=HDRS");
          if (envelope->dsn_envelope_id != NULL)
            {
              g_autofree char *xtext = smtp_client_xtext_encode (envelope->dsn_envelope_id);

              g_string_append (mail, " ENVID=");
              g_string_append (mail, xtext);
            }
        }
    }

  return g_string_free (mail, FALSE);
}

char *
smtp_client_envelope_build_rcpt (const SmtpClientEnvelope *envelope,
                                 guint                     index,
                                 SmtpClientExtensions      offered)
{
  GString *rcpt = g_string_sized_new (64);
  SmtpClientDsnNotify notify = envelope->dsn_notify;

  g_string_append (rcpt, "RCPT TO:<");
  g_string_append (rcpt, envelope->recipients[index]);
  g_string_append_c (rcpt, '>');

  if (notify != 0 && (offered & SMTP_CLIENT_EXTENSION_DSN))
    {
      g_string_append (rcpt, " NOTIFY=");
      if (notify & SMTP_CLIENT_DSN_NOTIFY_NEVER)
        g_string_append (rcpt, "NEVER");
      else
        {
          gsize start = rcpt->len;

          if (notify & SMTP_CLIENT_DSN_NOTIFY_SUCCESS)
            g_string_append (rcpt, ",SUCCESS");
          if (notify & SMTP_CLIENT_DSN_NOTIFY_FAILURE)
            g_string_append (rcpt, ",FAILURE");
          if (notify & SMTP_CLIENT_DSN_NOTIFY_DELAY)
            g_string_append (rcpt, ",DELAY");
          if (rcpt->len > start)
            g_string_erase (rcpt, start, 1); /* the first "," */
        }
    }

  return g_string_free (rcpt, FALSE);
}
