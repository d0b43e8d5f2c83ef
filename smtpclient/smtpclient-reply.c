/* smtpclient-reply.c: SMTP replies: the parser, what a reply means to
 * the command it answers, text made safe to show (pure, no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-private.h"

#include <stdarg.h>
#include <string.h>

#include "smtpclient-error.h"
#include "smtpclient-reply-private.h"

/* Bytes of an offending line quoted in an error message. */
#define EXCERPT_MAX 40

struct _SmtpClientReplyParser
{
  guint            code;   /* of the reply being assembled */
  GPtrArray       *lines;  /* its texts so far; NULL between replies */
  SmtpClientReply *spare;  /* a handled reply, emptied, to be used again
                            * (its lines NULL while they are in use) */
};

/* SmtpClientReply */

void
smtp_client_reply_free (SmtpClientReply *reply)
{
  if (reply == NULL)
    return;

  g_clear_pointer (&reply->lines, g_ptr_array_unref);
  g_free (reply);
}

SmtpClientReply *
smtp_client_reply_copy (const SmtpClientReply *reply)
{
  SmtpClientReply *copy;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (reply->lines != NULL, NULL);

  copy = g_new0 (SmtpClientReply, 1);
  copy->code = reply->code;
  copy->lines = g_ptr_array_new_full (reply->lines->len, g_free);
  for (guint i = 0; i < reply->lines->len; i++)
    g_ptr_array_add (copy->lines,
                     g_strdup (g_ptr_array_index (reply->lines, i)));

  return copy;
}

char *
smtp_client_reply_to_string (const SmtpClientReply *reply)
{
  GString *string;
  guint n_lines;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (reply->lines != NULL, NULL);

  string = g_string_new (NULL);
  n_lines = reply->lines->len;

  if (n_lines == 0)
    g_string_append_printf (string, "%03u", reply->code);

  for (guint i = 0; i < n_lines; i++)
    {
      const char *text = g_ptr_array_index (reply->lines, i);
      gboolean is_last = (i + 1 == n_lines);

      if (i > 0)
        g_string_append_c (string, '\n');
      g_string_append_printf (string, "%03u", reply->code);

      if (!is_last)
        g_string_append_c (string, '-');
      else if (*text != '\0')
        g_string_append_c (string, ' ');
      g_string_append (string, text);
    }

  return g_string_free (string, FALSE);
}

/* Length of the RFC 3463 status code at the start of @text, followed by a
 * space or the end of the text; 0 when there is none.
 *   status-code = class "." subject "." detail
 *   class = "2" / "4" / "5";  subject, detail = 1*3digit */
static gsize
enhanced_code_length (const char *text)
{
  const char *p = text;

  if (*p != '2' && *p != '4' && *p != '5')
    return 0;
  p++;

  for (guint part = 0; part < 2; part++)
    {
      guint n_digits = 0;

      if (*p != '.')
        return 0;
      p++;

      while (n_digits < 3 && g_ascii_isdigit (*p))
        {
          n_digits++;
          p++;
        }
      if (n_digits == 0)
        return 0;
    }

  if (*p != '\0' && *p != ' ')
    return 0;

  return (gsize) (p - text);
}

char *
smtp_client_reply_get_enhanced_code (const SmtpClientReply *reply)
{
  const char *first;
  gsize length;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (reply->lines != NULL, NULL);

  if (reply->lines->len == 0)
    return NULL;

  first = g_ptr_array_index (reply->lines, 0);
  length = enhanced_code_length (first);
  if (length == 0)
    return NULL;

  return g_strndup (first, length);
}

/* The enhanced status code at the start of @text ("452 4.5.3 ..."), after
 * the reply code; "" if there is none */
static char *
text_get_enhanced_code (const char *text)
{
  gsize length;

  if (strlen (text) < 4 || (text[3] != ' ' && text[3] != '-'))
    return g_strdup ("");

  length = enhanced_code_length (text + 4);
  return g_strndup (text + 4, length);
}

static gboolean
text_mentions (const char         *text,
               const char * const *phrases)
{
  g_autofree char *folded = g_ascii_strdown (text, -1);

  for (gsize i = 0; phrases[i] != NULL; i++)
    if (strstr (folded, phrases[i]) != NULL)
      return TRUE;

  return FALSE;
}

gboolean
smtp_client_reply_says_too_many_recipients (guint       code,
                                            const char *text)
{
  static const char * const phrases[] = { "too many recipients", NULL };
  g_autofree char *enhanced = NULL;

  if (code != 452 && code != 552)
    return FALSE;
  if (text == NULL)
    return FALSE;

  enhanced = text_get_enhanced_code (text);
  if (*enhanced != '\0')
    return g_str_equal (enhanced + 1, ".5.3");

  return text_mentions (text, phrases);
}

gboolean
smtp_client_reply_says_throttled (guint       code,
                                  const char *text)
{
  static const char * const phrases[] = {
    "throttl", "rate limit", "rate exceeded", "sending rate",
    "too many connections", "connection limit", "connections limit",
    "concurrent connections", "limit exceeded", NULL
  };
  g_autofree char *enhanced = NULL;

  if (code == 421)
    return TRUE;
  if (code / 100 != 4 || text == NULL)
    return FALSE;

  enhanced = text_get_enhanced_code (text);
  if ((code == 451 || code == 454) && g_str_has_prefix (enhanced, "4.7."))
    return TRUE;

  return text_mentions (text, phrases);
}

/* Appends @run (bytes >= 0x80 only) made valid UTF-8, with the C1
 * controls escaped: a terminal takes U+009B for CSI */
static void
append_non_ascii (GString    *out,
                  const char *run,
                  gsize       length)
{
  g_autofree char *valid = g_utf8_make_valid (run, (gssize) length);

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c >= 0x80 && c < 0xa0)
        g_string_append_printf (out, "\\u%04x", (guint) c);
      else
        g_string_append_len (out, p, g_utf8_next_char (p) - p);
    }
}

char *
smtp_client_text_escape (const char *text,
                         gssize      length)
{
  static const char hex[] = "0123456789abcdef";
  const char *end;
  const char *p;
  GString *out;

  g_return_val_if_fail (text != NULL || length == 0, NULL);

  if (length < 0)
    length = (gssize) strlen (text);
  end = text + length;

  /* Nothing to escape: the common case, one scan */
  for (p = text; p < end; p++)
    {
      guchar c = (guchar) *p;

      if (c < 0x20 || c >= 0x7f)
        break;
    }
  if (p == end)
    return g_strndup (text, (gsize) length);

  out = g_string_sized_new ((gsize) length + 16);
  for (p = text; p < end; )
    {
      guchar c = (guchar) *p;

      if (c >= 0x80)
        {
          const char *run = p;

          while (p < end && (guchar) *p >= 0x80)
            p++;
          append_non_ascii (out, run, p - run);
          continue;
        }

      if (c < 0x20 || c == 0x7f)
        {
          g_string_append (out, "\\x");
          g_string_append_c (out, hex[c >> 4]);
          g_string_append_c (out, hex[c & 0xf]);
        }
      else
        g_string_append_c (out, (char) c);
      p++;
    }

  return g_string_free (out, FALSE);
}

/* TRUE if @text has nothing smtp_client_text_escape() would change;
 * its length in @length */
static gboolean
text_is_plain (const char *text,
               gsize      *length)
{
  const char *p;

  for (p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (c < 0x20 || c >= 0x7f)
        return FALSE;
    }

  *length = (gsize) (p - text);
  return TRUE;
}

/* The code's three digits and the separator that follows it on the wire */
static char *
write_line_start (char  *out,
                  guint  code,
                  char   separator)
{
  out[0] = (char) ('0' + code / 100 % 10);
  out[1] = (char) ('0' + code / 10 % 10);
  out[2] = (char) ('0' + code % 10);
  if (separator == '\0')
    return out + 3;
  out[3] = separator;
  return out + 4;
}

static char
line_separator (const char *text,
                gboolean    is_last)
{
  if (!is_last)
    return '-';
  return *text != '\0' ? ' ' : '\0';
}

char *
smtp_client_reply_to_display (const SmtpClientReply *reply)
{
  guint n_lines;
  gsize total = 0;
  char *result;
  char *out;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (reply->lines != NULL, NULL);

  n_lines = reply->lines->len;
  if (n_lines == 0 || reply->code > 999)
    {
      g_autofree char *raw = smtp_client_reply_to_string (reply);

      return smtp_client_text_escape (raw, -1);
    }

  /* Every reply of a transaction passes here: one allocation and no
   * formatting when there is nothing to escape, the common case */
  for (guint i = 0; i < n_lines; i++)
    {
      gsize length;

      if (!text_is_plain (g_ptr_array_index (reply->lines, i), &length))
        {
          GString *string = g_string_new (NULL);

          for (guint j = 0; j < n_lines; j++)
            {
              const char *text = g_ptr_array_index (reply->lines, j);
              g_autofree char *escaped = smtp_client_text_escape (text, -1);
              char start[4];
              char *end;

              if (j > 0)
                g_string_append_c (string, '\n');
              end = write_line_start (start, reply->code,
                                      line_separator (text, j + 1 == n_lines));
              g_string_append_len (string, start, end - start);
              g_string_append (string, escaped);
            }
          return g_string_free (string, FALSE);
        }
      /* "250-" or "250 " and the text, and a newline or the final NUL */
      total += 4 + length + 1;
    }

  result = out = g_malloc (total);
  for (guint i = 0; i < n_lines; i++)
    {
      const char *text = g_ptr_array_index (reply->lines, i);
      gsize length = strlen (text);

      if (i > 0)
        *out++ = '\n';
      out = write_line_start (out, reply->code,
                              line_separator (text, i + 1 == n_lines));
      memcpy (out, text, length);
      out += length;
    }
  *out = '\0';

  return result;
}

/* Appends @text with control characters escaped and leading and trailing
 * spaces removed; nothing when that leaves nothing. */
static void
append_printable_text (GString    *string,
                       const char *text)
{
  g_autofree char *escaped = smtp_client_text_escape (text, -1);

  g_strstrip (escaped);
  if (*escaped == '\0')
    return;

  g_string_append_c (string, ' ');
  g_string_append (string, escaped);
}

/* Servers such as Gmail repeat the enhanced status code on every line of
 * a multi-line reply; the one-line form shows it only once. */
char *
smtp_client_reply_to_one_line (const SmtpClientReply *reply)
{
  g_autofree char *enhanced = NULL;
  GString *string;
  gsize enhanced_length = 0;

  g_return_val_if_fail (reply != NULL, NULL);
  g_return_val_if_fail (reply->lines != NULL, NULL);

  enhanced = smtp_client_reply_get_enhanced_code (reply);
  if (enhanced != NULL)
    enhanced_length = strlen (enhanced);

  string = g_string_new (NULL);
  g_string_append_printf (string, "%03u", reply->code);

  for (guint i = 0; i < reply->lines->len; i++)
    {
      const char *text = g_ptr_array_index (reply->lines, i);

      if (i > 0
          && enhanced != NULL
          && strncmp (text, enhanced, enhanced_length) == 0
          && (text[enhanced_length] == '\0' || text[enhanced_length] == ' '))
        text += enhanced_length;

      append_printable_text (string, text);
    }

  return g_string_free (string, FALSE);
}

/* SmtpClientReplyParser */

SmtpClientReplyParser *
smtp_client_reply_parser_new (void)
{
  return g_new0 (SmtpClientReplyParser, 1);
}

void
smtp_client_reply_parser_free (SmtpClientReplyParser *parser)
{
  if (parser == NULL)
    return;

  smtp_client_reply_parser_reset (parser);
  if (parser->spare != NULL && parser->spare->lines == NULL)
    parser->spare->lines = g_ptr_array_new_with_free_func (g_free);
  g_clear_pointer (&parser->spare, smtp_client_reply_free);
  g_free (parser);
}

void
smtp_client_reply_parser_recycle (SmtpClientReplyParser *parser,
                                  SmtpClientReply       *reply)
{
  g_return_if_fail (parser != NULL);

  if (reply == NULL)
    return;

  if (parser->spare != NULL)
    {
      smtp_client_reply_free (reply);
      return;
    }

  g_ptr_array_set_size (reply->lines, 0);
  reply->code = 0;
  parser->spare = reply;
}

void
smtp_client_reply_parser_reset (SmtpClientReplyParser *parser)
{
  g_return_if_fail (parser != NULL);

  parser->code = 0;
  g_clear_pointer (&parser->lines, g_ptr_array_unref);
}

gboolean
smtp_client_reply_parser_is_partial (SmtpClientReplyParser *parser)
{
  g_return_val_if_fail (parser != NULL, FALSE);

  return parser->lines != NULL;
}

/* The start of a bad line for an error message: valid UTF-8, control
 * characters replaced, at most EXCERPT_MAX bytes of the line. */
static char *
make_excerpt (const char *line,
              gsize       length)
{
  g_autofree char *valid = NULL;
  GString *excerpt;

  if (length == 0)
    return g_strdup ("");

  valid = g_utf8_make_valid (line, (gssize) MIN (length, EXCERPT_MAX));
  excerpt = g_string_new (NULL);
  for (const char *p = valid; *p != '\0'; p++)
    {
      if ((guchar) *p < 0x20 || *p == 0x7f)
        g_string_append_c (excerpt, '?');
      else
        g_string_append_c (excerpt, *p);
    }
  if (length > EXCERPT_MAX)
    g_string_append (excerpt, "…");

  return g_string_free (excerpt, FALSE);
}

static SmtpClientReplyParseResult parser_fail (SmtpClientReplyParser *parser,
                                               GError               **error,
                                               const char            *format,
                                               ...) G_GNUC_PRINTF (3, 4);

/* Resets @parser and sets a protocol error; @format is translated by the
 * caller. */
static SmtpClientReplyParseResult
parser_fail (SmtpClientReplyParser *parser,
             GError               **error,
             const char            *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list args;

  smtp_client_reply_parser_reset (parser);

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);

  g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL,
                       message);
  return SMTP_CLIENT_REPLY_PARSE_ERROR;
}

/* RFC 5321 §4.2: three digits, the first 1..5, the second 0..5. */
static gboolean
parse_code (const char *line,
            gsize       length,
            guint      *out_code)
{
  if (length < 3)
    return FALSE;

  if (line[0] < '1' || line[0] > '5'
      || line[1] < '0' || line[1] > '5'
      || line[2] < '0' || line[2] > '9')
    return FALSE;

  *out_code = (guint) (line[0] - '0') * 100
              + (guint) (line[1] - '0') * 10
              + (guint) (line[2] - '0');
  return TRUE;
}

SmtpClientReplyParseResult
smtp_client_reply_parser_feed_line (SmtpClientReplyParser *parser,
                                    const char            *line,
                                    gsize                  length,
                                    SmtpClientReply      **out_reply,
                                    GError               **error)
{
  SmtpClientReply *reply;
  gboolean is_last;
  guint code;
  char *text;

  g_return_val_if_fail (parser != NULL, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_return_val_if_fail (line != NULL || length == 0,
                        SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_return_val_if_fail (out_reply != NULL, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_return_val_if_fail (error == NULL || *error == NULL,
                        SMTP_CLIENT_REPLY_PARSE_ERROR);

  *out_reply = NULL;
  smtp_client_init_i18n ();

  if (length > 0 && line[length - 1] == '\r')
    length--;

  /* Checked before anything is scanned or copied. */
  if (length > SMTP_CLIENT_REPLY_MAX_LINE)
    return parser_fail (parser, error,
                        /* Translators: %u is a number of bytes */
                        _("Malformed reply from the server: a line is longer "
                          "than %u bytes"),
                        (guint) SMTP_CLIENT_REPLY_MAX_LINE);

  if (length > 0 && memchr (line, '\0', length) != NULL)
    return parser_fail (parser, error,
                        _("Malformed reply from the server: a line contains "
                          "a NUL byte"));

  if (!parse_code (line, length, &code))
    {
      g_autofree char *excerpt = make_excerpt (line, length);

      return parser_fail (parser, error,
                          /* Translators: %s: start of the server's line */
                          _("Malformed reply from the server: “%s” does not "
                            "start with a reply code"),
                          excerpt);
    }

  if (length == 3 || line[3] == ' ')
    is_last = TRUE;
  else if (line[3] == '-')
    is_last = FALSE;
  else
    {
      g_autofree char *excerpt = make_excerpt (line, length);

      return parser_fail (parser, error,
                          /* Translators: %s: start of the server's line */
                          _("Malformed reply from the server: “%s” has "
                            "neither a space nor a dash after the reply "
                            "code"),
                          excerpt);
    }

  if (parser->lines != NULL && code != parser->code)
    {
      guint expected = parser->code;

      return parser_fail (parser, error,
                          /* Translators: two SMTP reply codes, e.g. 250 */
                          _("Malformed reply from the server: a continuation "
                            "line has code %u instead of %u"),
                          code, expected);
    }

  if (parser->lines != NULL
      && parser->lines->len >= SMTP_CLIENT_REPLY_MAX_LINES)
    return parser_fail (parser, error,
                        /* Translators: %u is a number of lines */
                        _("Malformed reply from the server: a reply has more "
                          "than %u lines"),
                        (guint) SMTP_CLIENT_REPLY_MAX_LINES);

  if (length > 4)
    text = g_utf8_make_valid (line + 4, (gssize) (length - 4));
  else
    text = g_strdup ("");

  if (parser->lines == NULL)
    {
      parser->code = code;
      /* Replies come one after the other: the last one's array again */
      if (parser->spare != NULL && parser->spare->lines != NULL)
        parser->lines = g_steal_pointer (&parser->spare->lines);
      else
        parser->lines = g_ptr_array_new_with_free_func (g_free);
    }
  g_ptr_array_add (parser->lines, text);

  if (!is_last)
    return SMTP_CLIENT_REPLY_PARSE_MORE;

  if (parser->spare != NULL)
    reply = g_steal_pointer (&parser->spare);
  else
    reply = g_new0 (SmtpClientReply, 1);
  reply->code = parser->code;
  reply->lines = g_steal_pointer (&parser->lines);
  parser->code = 0;

  *out_reply = reply;
  return SMTP_CLIENT_REPLY_PARSE_COMPLETE;
}

/* Commands and their replies */

SmtpClientVerdict
smtp_client_reply_judge (SmtpClientCommand command,
                         guint             code)
{
  guint class = code / 100;

  if (code == 421)
    return SMTP_CLIENT_VERDICT_CLOSING;

  if (class == 4 || class == 5)
    return SMTP_CLIENT_VERDICT_REFUSED;

  switch (command)
    {
    case SMTP_CLIENT_COMMAND_GREETING:
    case SMTP_CLIENT_COMMAND_STARTTLS:
      return code == 220 ? SMTP_CLIENT_VERDICT_SUCCESS
                         : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_COMMAND_AUTH:
      if (code == 235)
        return SMTP_CLIENT_VERDICT_SUCCESS;
      return code == 334 ? SMTP_CLIENT_VERDICT_CONTINUE
                         : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_COMMAND_AUTH_CANCEL:
      /* After "*" only a final reply (RFC 4954 §4): no 334 */
      return code == 235 ? SMTP_CLIENT_VERDICT_SUCCESS
                         : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_COMMAND_RCPT:
      return code == 250 || code == 251 || code == 252
             ? SMTP_CLIENT_VERDICT_SUCCESS : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_COMMAND_DATA:
      return code == 354 ? SMTP_CLIENT_VERDICT_CONTINUE
                         : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_COMMAND_QUIT:
      return code == 221 ? SMTP_CLIENT_VERDICT_SUCCESS
                         : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_COMMAND_EHLO:
    case SMTP_CLIENT_COMMAND_HELO:
    case SMTP_CLIENT_COMMAND_MAIL:
    case SMTP_CLIENT_COMMAND_END:
    case SMTP_CLIENT_COMMAND_RSET:
    case SMTP_CLIENT_COMMAND_NOOP:
    case SMTP_CLIENT_COMMAND_BDAT:
      return code == 250 ? SMTP_CLIENT_VERDICT_SUCCESS
                         : SMTP_CLIENT_VERDICT_UNEXPECTED;

    case SMTP_CLIENT_N_COMMANDS:
    default:
      g_return_val_if_reached (SMTP_CLIENT_VERDICT_UNEXPECTED);
    }
}

const char *
smtp_client_command_get_name (SmtpClientCommand command)
{
  static const char * const names[SMTP_CLIENT_N_COMMANDS] = {
    [SMTP_CLIENT_COMMAND_GREETING] = "greeting",
    [SMTP_CLIENT_COMMAND_EHLO] = "EHLO",
    [SMTP_CLIENT_COMMAND_HELO] = "HELO",
    [SMTP_CLIENT_COMMAND_STARTTLS] = "STARTTLS",
    [SMTP_CLIENT_COMMAND_AUTH] = "AUTH",
    [SMTP_CLIENT_COMMAND_AUTH_CANCEL] = "AUTH",
    [SMTP_CLIENT_COMMAND_MAIL] = "MAIL",
    [SMTP_CLIENT_COMMAND_RCPT] = "RCPT",
    [SMTP_CLIENT_COMMAND_DATA] = "DATA",
    [SMTP_CLIENT_COMMAND_END] = "end of data",
    [SMTP_CLIENT_COMMAND_RSET] = "RSET",
    [SMTP_CLIENT_COMMAND_NOOP] = "NOOP",
    [SMTP_CLIENT_COMMAND_QUIT] = "QUIT",
    [SMTP_CLIENT_COMMAND_BDAT] = "BDAT",
  };

  g_return_val_if_fail (command < SMTP_CLIENT_N_COMMANDS, "?");

  return names[command];
}
