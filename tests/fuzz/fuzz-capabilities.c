/* fuzz-capabilities.c: libFuzzer target for the EHLO capabilities parser
 * and the choice of an AUTH mechanism
 *
 * The input, split into lines at '\n', is taken as the text of a 250
 * reply to EHLO as the reply parser would hand it over (valid UTF-8, any
 * number of lines, any length): the capabilities built from it must answer
 * every question consistently, the mechanisms must be names, and the
 * choice among them one of them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtpclient/smtpclient-reply-private.h"
#include "smtpclient/smtpclient-sasl-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static const char * const keywords[] = {
    "AUTH", "SIZE", "PIPELINING", "STARTTLS", "8BITMIME", "SMTPUTF8", "DSN",
    "CHUNKING", "auth", "", "SIZE ",
  };
  g_autoptr(SmtpClientReply) reply = g_new0 (SmtpClientReply, 1);
  g_autoptr(SmtpClientCapabilities) caps = NULL;
  g_auto(GStrv) mechanisms = NULL;
  SmtpClientExtensions extensions;
  const char *chosen;
  gsize start = 0;

  reply->code = 250;
  reply->lines = g_ptr_array_new_with_free_func (g_free);
  for (gsize i = 0; i <= size; i++)
    if (i == size || data[i] == '\n')
      {
        g_ptr_array_add (reply->lines,
                         g_utf8_make_valid ((const char *) data + start,
                                            (gssize) (i - start)));
        start = i + 1;
      }

  caps = smtp_client_capabilities_new_from_ehlo (reply);
  g_assert_nonnull (caps);

  for (gsize i = 0; i < G_N_ELEMENTS (keywords); i++)
    {
      const char *parameters =
        smtp_client_capabilities_get_parameters (caps, keywords[i]);

      g_assert_true (smtp_client_capabilities_has_extension (caps, keywords[i])
                     == (parameters != NULL));
      if (parameters != NULL)
        g_assert_true (g_utf8_validate (parameters, -1, NULL));
    }

  extensions = smtp_client_capabilities_get_extensions (caps);
  g_assert_true (((extensions & SMTP_CLIENT_EXTENSION_PIPELINING) != 0) ==
                 smtp_client_capabilities_has_extension (caps, "PIPELINING"));
  (void) smtp_client_capabilities_get_size_limit (caps);

  mechanisms = smtp_client_capabilities_get_auth_mechanisms (caps);
  g_assert_nonnull (mechanisms);
  for (guint i = 0; mechanisms[i] != NULL; i++)
    {
      g_assert_cmpuint (strlen (mechanisms[i]), >=, 1);
      g_assert_cmpuint (strlen (mechanisms[i]), <=, 20);
      for (const char *p = mechanisms[i]; *p != '\0'; p++)
        g_assert_true (g_ascii_isupper (*p) || g_ascii_isdigit (*p) ||
                       *p == '-' || *p == '_');
    }
  if (mechanisms[0] != NULL)
    g_assert_true ((extensions & SMTP_CLIENT_EXTENSION_AUTH) != 0);

  chosen = smtp_client_sasl_choose ((const char * const *) mechanisms);
  if (chosen != NULL)
    {
      gboolean offered = FALSE;

      for (guint i = 0; mechanisms[i] != NULL; i++)
        offered |= g_ascii_strcasecmp (mechanisms[i], chosen) == 0;
      g_assert_true (offered);
      g_assert_true (smtp_client_sasl_is_supported (chosen));
    }

  return 0;
}
