/* smtpclient-send-recipients.c: smtpclient-send -t, the recipients from
 * the message's header
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The message is streamed, so only the header block is read into memory
 * (up to SMTP_CLIENT_SEND_HEADER_LIMIT bytes): its To, Cc and Bcc fields
 * give the recipients, the Bcc field is dropped, and the task reads the
 * remaining header lines from memory and then the rest of the input from
 * where the header reading stopped.
 */

#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "smtpclient-send-private.h"

void
smtp_client_send_add_address_list (const char *value,
                                   GPtrArray  *recipients)
{
  g_autoptr(GString) token = g_string_new (NULL);
  g_autoptr(GString) angle = g_string_new (NULL);
  gboolean in_quote = FALSE;
  gboolean in_angle = FALSE;
  gboolean has_angle = FALSE;
  int comment_depth = 0;

  for (const char *p = value; ; p++)
    {
      char c = *p;

      if (c != '\0' && in_quote)
        {
          GString *out = in_angle ? angle : token;

          g_string_append_c (out, c);
          if (c == '\\' && p[1] != '\0')
            g_string_append_c (out, *++p);
          else if (c == '"')
            in_quote = FALSE;
          continue;
        }

      if (c != '\0' && comment_depth > 0)
        {
          if (c == '\\' && p[1] != '\0')
            p++;
          else if (c == '(')
            comment_depth++;
          else if (c == ')')
            comment_depth--;
          continue;
        }

      if (c == '(')
        comment_depth++;
      else if (c == '"')
        {
          in_quote = TRUE;
          g_string_append_c (in_angle ? angle : token, c);
        }
      else if (c == '<' && !in_angle)
        {
          in_angle = TRUE;
          has_angle = TRUE;
          g_string_truncate (angle, 0);
        }
      else if (c == '>' && in_angle)
        in_angle = FALSE;
      else if (c == ':' && !in_angle)
        g_string_truncate (token, 0);   /* a group's display name */
      else if (c != '\0' && in_angle)
        g_string_append_c (angle, c);
      else if (c == ',' || c == ';' || c == '\0')
        {
          const char *address = has_angle ? angle->str : token->str;
          const char *route_end = has_angle ? strrchr (address, ':') : NULL;
          g_autofree char *bare = NULL;

          /* An obsolete source route: <@relay:user@example.org> */
          if (route_end != NULL && address[0] == '@')
            address = route_end + 1;

          bare = g_strstrip (g_strdup (address));
          if (!has_angle)
            {
              /* Folding white space around the parts of a bare address */
              g_autoptr(GString) squeezed = g_string_new (NULL);

              for (const char *q = bare; *q != '\0'; q++)
                if (!g_ascii_isspace (*q))
                  g_string_append_c (squeezed, *q);
              g_free (bare);
              bare = g_string_free (g_steal_pointer (&squeezed), FALSE);
            }

          if (*bare != '\0' &&
              !g_ptr_array_find_with_equal_func (recipients, bare,
                                                 g_str_equal, NULL))
            g_ptr_array_add (recipients, g_steal_pointer (&bare));

          g_string_truncate (token, 0);
          g_string_truncate (angle, 0);
          has_angle = FALSE;
          if (c == '\0')
            break;
        }
      else
        g_string_append_c (token, c);
    }
}

static gboolean
is_recipient_field (const char *name,
                    gsize       length,
                    gboolean   *is_bcc)
{
  *is_bcc = length == 3 && g_ascii_strncasecmp (name, "bcc", 3) == 0;

  return *is_bcc ||
         (length == 2 && (g_ascii_strncasecmp (name, "to", 2) == 0 ||
                          g_ascii_strncasecmp (name, "cc", 2) == 0));
}

GInputStream *
smtp_client_send_read_recipients (GInputStream  *input,
                                  GPtrArray     *recipients,
                                  GError       **error)
{
  g_autoptr(GDataInputStream) data = g_data_input_stream_new (input);
  g_autoptr(GString) header = g_string_new (NULL);
  g_autoptr(GString) field = g_string_new (NULL);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GInputStream) memory = NULL;
  gboolean keep_field = TRUE;
  gsize total = 0;

  g_data_input_stream_set_newline_type (data, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (data),
                                               TRUE);

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      gsize length = 0;
      g_autofree char *line = g_data_input_stream_read_line (data, &length,
                                                             NULL,
                                                             &local_error);
      gsize text_length;
      gboolean is_continuation;
      const char *colon = NULL;

      if (local_error != NULL)
        {
          g_set_error (error, G_IO_ERROR, local_error->code,
                       _("Could not read the message: %s"),
                       local_error->message);
          return NULL;
        }

      total += length + 1;
      if (total > SMTP_CLIENT_SEND_HEADER_LIMIT)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       _("The message header is larger than %u bytes"),
                       (guint) SMTP_CLIENT_SEND_HEADER_LIMIT);
          return NULL;
        }

      is_continuation = line != NULL && (line[0] == ' ' || line[0] == '\t');

      /* The field read so far is complete: take its recipients. */
      if (!is_continuation && field->len > 0)
        {
          const char *value = strchr (field->str, ':');
          gboolean is_bcc;

          if (is_recipient_field (field->str, value - field->str, &is_bcc))
            smtp_client_send_add_address_list (value + 1, recipients);
          g_string_truncate (field, 0);
        }

      if (line == NULL)
        break;

      text_length = length;
      if (text_length > 0 && line[text_length - 1] == '\r')
        text_length--;

      if (is_continuation && field->len == 0)
        {
          /* White space before any field: this is not a header. */
          g_string_append_len (header, line, length);
          g_string_append_c (header, '\n');
          break;
        }

      if (is_continuation)
        {
          /* Unfolding: the line belongs to the current field. */
          g_string_append_len (field, line, text_length);
          if (keep_field)
            {
              g_string_append_len (header, line, length);
              g_string_append_c (header, '\n');
            }
          continue;
        }

      /* A field starts with a name of printable characters and a colon. */
      for (const char *q = line; q < line + text_length && *q > ' ' &&
                                 *q < 127; q++)
        if (*q == ':')
          {
            colon = q;
            break;
          }

      if (colon == NULL || colon == line)
        {
          /* The empty line, or the body started without one: the rest is
           * sent as read. */
          g_string_append_len (header, line, length);
          g_string_append_c (header, '\n');
          break;
        }
      else
        {
          gboolean is_bcc = FALSE;

          is_recipient_field (line, colon - line, &is_bcc);
          keep_field = !is_bcc;
          g_string_append_len (field, line, text_length);
          if (keep_field)
            {
              g_string_append_len (header, line, length);
              g_string_append_c (header, '\n');
            }
        }
    }

  bytes = g_string_free_to_bytes (g_steal_pointer (&header));
  memory = g_memory_input_stream_new_from_bytes (bytes);
  return smtp_client_send_concat_stream_new (memory, G_INPUT_STREAM (data));
}

