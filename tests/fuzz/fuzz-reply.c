/* fuzz-reply.c: libFuzzer target for the SMTP reply parser and the EHLO
 * capabilities parser
 *
 * The input is split into lines at '\n'; every line is fed to one parser,
 * from a heap buffer of exactly its size so that ASan sees any read past
 * it.  Every complete reply goes through all the helpers and the EHLO
 * capabilities parser.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtpclient/smtpclient-reply-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static void
exercise_capabilities (const SmtpClientReply *reply)
{
  g_autoptr(SmtpClientCapabilities) caps = NULL;
  g_auto(GStrv) mechanisms = NULL;
  const char *keywords[] = { "AUTH", "SIZE", "pipelining", "StartTLS", "" };

  caps = smtp_client_capabilities_new_from_ehlo (reply);
  g_assert_nonnull (caps);

  for (gsize i = 0; i < G_N_ELEMENTS (keywords); i++)
    {
      const char *parameters =
        smtp_client_capabilities_get_parameters (caps, keywords[i]);

      g_assert_true (smtp_client_capabilities_has_extension (caps,
                                                             keywords[i])
                     == (parameters != NULL));
      if (parameters != NULL)
        g_assert_true (g_utf8_validate (parameters, -1, NULL));
    }

  (void) smtp_client_capabilities_get_size_limit (caps);

  mechanisms = smtp_client_capabilities_get_auth_mechanisms (caps);
  g_assert_nonnull (mechanisms);
  for (guint i = 0; mechanisms[i] != NULL; i++)
    g_assert_cmpstr (mechanisms[i], !=, "");
}

static void
exercise_reply (const SmtpClientReply *reply)
{
  g_autoptr(SmtpClientReply) copy = NULL;
  g_autofree char *string = NULL;
  g_autofree char *one_line = NULL;
  g_autofree char *enhanced = NULL;

  g_assert_cmpuint (reply->code, >=, 100);
  g_assert_cmpuint (reply->code, <=, 599);
  g_assert_cmpuint (reply->lines->len, >=, 1);
  g_assert_cmpuint (reply->lines->len, <=, SMTP_CLIENT_REPLY_MAX_LINES);
  for (guint i = 0; i < reply->lines->len; i++)
    g_assert_true (g_utf8_validate (g_ptr_array_index (reply->lines, i),
                                    -1, NULL));

  string = smtp_client_reply_to_string (reply);
  one_line = smtp_client_reply_to_one_line (reply);
  enhanced = smtp_client_reply_get_enhanced_code (reply);
  g_assert_true (g_utf8_validate (string, -1, NULL));
  g_assert_true (g_utf8_validate (one_line, -1, NULL));
  g_assert_null (strchr (one_line, '\n'));

  copy = smtp_client_reply_copy (reply);
  g_assert_cmpuint (copy->lines->len, ==, reply->lines->len);

  exercise_capabilities (reply);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  const char *p = (const char *) data;
  const char *end = p + size;

  while (p < end)
    {
      const char *newline = memchr (p, '\n', (size_t) (end - p));
      gsize length = (gsize) ((newline != NULL ? newline : end) - p);
      g_autofree char *line = g_memdup2 (p, length);
      g_autoptr(SmtpClientReply) reply = NULL;
      g_autoptr(GError) error = NULL;

      switch (smtp_client_reply_parser_feed_line (parser, line, length,
                                                  &reply, &error))
        {
        case SMTP_CLIENT_REPLY_PARSE_MORE:
          g_assert_no_error (error);
          g_assert_null (reply);
          g_assert_true (smtp_client_reply_parser_is_partial (parser));
          break;

        case SMTP_CLIENT_REPLY_PARSE_COMPLETE:
          g_assert_no_error (error);
          g_assert_nonnull (reply);
          g_assert_false (smtp_client_reply_parser_is_partial (parser));
          exercise_reply (reply);
          break;

        case SMTP_CLIENT_REPLY_PARSE_ERROR:
          g_assert_nonnull (error);
          g_assert_null (reply);
          g_assert_false (smtp_client_reply_parser_is_partial (parser));
          g_assert_true (g_utf8_validate (error->message, -1, NULL));
          break;

        default:
          g_assert_not_reached ();
        }

      p = (newline != NULL) ? newline + 1 : end;
    }

  return 0;
}
