/* fuzz-envelope.c: libFuzzer target for the envelope builder: address
 * validation, the MAIL and RCPT commands, xtext
 *
 * The input holds two bytes of flags (offered extensions, DSN choices,
 * 7-bit or not), then, separated by \x01 bytes: the sender, two
 * recipients, a field left unused and an ENVID.  Whatever passes
 * validation must make commands that are one line each (no CR, LF or
 * NUL: no command injection), that carry the addresses as given, and
 * whose ENVID decodes back to the one given.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtpclient/smtpclient-envelope-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static char *
xtext_decode (const char *text)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '+')
        {
          g_assert_true (g_ascii_isxdigit (p[1]) && g_ascii_isxdigit (p[2]));
          g_assert_false (g_ascii_islower (p[1]) || g_ascii_islower (p[2]));
          g_string_append_c (out, (char) (g_ascii_xdigit_value (p[1]) * 16 +
                                          g_ascii_xdigit_value (p[2])));
          p += 2;
        }
      else
        {
          g_assert_true (*p >= 33 && *p <= 126 && *p != '=');
          g_string_append_c (out, *p);
        }
    }

  return g_string_free (out, FALSE);
}

static void
assert_one_line (const char *command)
{
  g_assert_null (strchr (command, '\r'));
  g_assert_null (strchr (command, '\n'));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree char *copy = NULL;
  g_auto(GStrv) fields = NULL;
  const char *recipients[3] = { NULL };
  SmtpClientEnvelope envelope = { 0 };
  SmtpClientExtensions offered;
  g_autofree char *mail = NULL;
  g_autofree char *prefix = NULL;
  gboolean dsn_left_out = FALSE;
  guint flags;

  if (size < 2)
    return 0;

  flags = data[0] | (data[1] << 8);
  copy = g_strndup ((const char *) data + 2, size - 2);
  fields = g_strsplit (copy, "\x01", 5);
  if (g_strv_length (fields) < 4)
    return 0;

  if (!smtp_client_address_validate (fields[0], TRUE, NULL) ||
      !smtp_client_address_validate (fields[1], FALSE, NULL) ||
      !smtp_client_address_validate (fields[2], FALSE, NULL))
    return 0;

  recipients[0] = fields[1];
  recipients[1] = fields[2];
  envelope.from = fields[0];
  envelope.recipients = recipients;
  envelope.size = flags & 0x8000 ? 0 : (guint64) size * 1000;
  envelope.is_7bit = (flags & 0x4000) != 0;
  envelope.dsn_notify = (flags >> 8) & 0xf;
  envelope.dsn_return = ((flags >> 12) & 0x3) % 3;
  envelope.dsn_envelope_id = fields[4] != NULL && *fields[4] != '\0'
                             ? fields[4] : NULL;
  offered = flags & 0x7ff;

  /* The ENVID is printable ASCII (checked by the task) */
  if (envelope.dsn_envelope_id != NULL)
    for (const char *p = envelope.dsn_envelope_id; *p != '\0'; p++)
      if (*p < 0x20 || *p > 0x7e)
        return 0;

  (void) smtp_client_envelope_check (&envelope, offered, size, NULL);

  mail = smtp_client_envelope_build_mail (&envelope, offered, &dsn_left_out);
  assert_one_line (mail);
  prefix = g_strconcat ("MAIL FROM:<", envelope.from, ">", NULL);
  g_assert_true (g_str_has_prefix (mail, prefix));
  g_assert_true (dsn_left_out ==
                 (!(offered & SMTP_CLIENT_EXTENSION_DSN) &&
                  (envelope.dsn_notify != 0 ||
                   envelope.dsn_return != SMTP_CLIENT_DSN_RETURN_DEFAULT ||
                   envelope.dsn_envelope_id != NULL)));

  if (envelope.dsn_envelope_id != NULL && (offered & SMTP_CLIENT_EXTENSION_DSN))
    {
      const char *envid = strstr (mail + strlen (prefix), " ENVID=");
      g_autofree char *decoded = NULL;

      g_assert_nonnull (envid);
      decoded = xtext_decode (envid + 7);
      g_assert_cmpstr (decoded, ==, envelope.dsn_envelope_id);
    }

  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *rcpt = smtp_client_envelope_build_rcpt (&envelope, i,
                                                               offered);
      g_autofree char *expected = g_strconcat ("RCPT TO:<", recipients[i], ">",
                                               NULL);

      assert_one_line (rcpt);
      g_assert_true (g_str_has_prefix (rcpt, expected));
    }

  return 0;
}
