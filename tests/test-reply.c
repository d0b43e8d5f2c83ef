/* test-reply.c: the SMTP reply parser and the EHLO capabilities
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient/smtpclient-error.h"
#include "smtpclient/smtpclient-reply-private.h"

/* Replies are written as on the wire, lines separated by "\n". */

/* Feeds @wire (of @wire_length bytes) line by line, each line in a heap
 * buffer of exactly its size so that reading past it is caught by ASan.
 * Returns the result of the last line fed; stops at the first error and
 * stores the 1-based number of the line in @out_error_line. */
static SmtpClientReplyParseResult
feed_wire (SmtpClientReplyParser  *parser,
           const char             *wire,
           gsize                   wire_length,
           SmtpClientReply       **out_reply,
           guint                  *out_error_line,
           GError                **error)
{
  SmtpClientReplyParseResult result = SMTP_CLIENT_REPLY_PARSE_MORE;
  const char *p = wire;
  const char *end = wire + wire_length;
  guint line_number = 0;

  *out_reply = NULL;
  *out_error_line = 0;

  do
    {
      const char *newline = memchr (p, '\n', (gsize) (end - p));
      gsize length = (gsize) ((newline != NULL ? newline : end) - p);
      g_autofree char *line = g_memdup2 (p, length);

      line_number++;
      g_assert_null (*out_reply);
      result = smtp_client_reply_parser_feed_line (parser, line, length,
                                                   out_reply, error);
      if (result == SMTP_CLIENT_REPLY_PARSE_ERROR)
        {
          *out_error_line = line_number;
          return result;
        }
      if (result == SMTP_CLIENT_REPLY_PARSE_MORE)
        g_assert_true (smtp_client_reply_parser_is_partial (parser));
      else
        g_assert_false (smtp_client_reply_parser_is_partial (parser));

      p = (newline != NULL) ? newline + 1 : end;
    }
  while (p < end);

  return result;
}

/* Parses @wire, which must be one complete reply. */
static SmtpClientReply *
parse_reply (const char *wire)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(GError) error = NULL;
  SmtpClientReply *reply = NULL;
  SmtpClientReplyParseResult result;
  guint error_line;

  result = feed_wire (parser, wire, strlen (wire), &reply, &error_line,
                      &error);
  g_assert_no_error (error);
  g_assert_cmpint (result, ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_nonnull (reply);

  return reply;
}

/* Parsing, table-driven */

typedef struct
{
  const char *name;
  const char *wire;
  gssize      wire_length;  /* -1: up to the NUL */
  guint       code;         /* 0: an error is expected */
  const char *lines[4];     /* the texts expected, NULL-terminated */
  guint       error_line;   /* 1-based line with the error */
} ParseCase;

static const ParseCase parse_cases[] = {
  { "single", "250 OK", -1, 250, { "OK", NULL }, 0 },
  { "code-only", "250", -1, 250, { "", NULL }, 0 },
  { "empty-text", "250 ", -1, 250, { "", NULL }, 0 },
  { "spaces-kept", "550  two  spaces ", -1, 550,
    { " two  spaces ", NULL }, 0 },
  { "multiline",
    "250-mail.example.org\n250-PIPELINING\n250 8BITMIME", -1, 250,
    { "mail.example.org", "PIPELINING", "8BITMIME", NULL }, 0 },
  { "multiline-empty-continuation", "250-\n250 last", -1, 250,
    { "", "last", NULL }, 0 },
  { "multiline-code-only-last", "250-first\n250", -1, 250,
    { "first", "", NULL }, 0 },
  { "multiline-dash-in-text", "220-a-b\n220 c-d", -1, 220,
    { "a-b", "c-d", NULL }, 0 },
  { "trailing-cr", "220 ready\r", -1, 220, { "ready", NULL }, 0 },
  { "trailing-cr-code-only", "250\r", -1, 250, { "", NULL }, 0 },
  { "trailing-cr-multiline", "250-a\r\n250 b\r", -1, 250,
    { "a", "b", NULL }, 0 },
  { "only-one-cr-removed", "250 a\r\r", -1, 250, { "a\r", NULL }, 0 },
  { "inner-cr-kept", "250 a\rb", -1, 250, { "a\rb", NULL }, 0 },
  { "class-1", "150 x", -1, 150, { "x", NULL }, 0 },
  { "highest-code", "559 x", -1, 559, { "x", NULL }, 0 },
  { "lowest-code", "100 x", -1, 100, { "x", NULL }, 0 },
  { "utf-8-kept", "250 Gr\xc3\xbc\xc3\x9f" "e", -1, 250,
    { "Gr\xc3\xbc\xc3\x9f" "e", NULL }, 0 },
  { "latin-1-made-valid", "250 caf\xe9", -1, 250,
    { "caf\xef\xbf\xbd", NULL }, 0 },
  { "truncated-utf-8-made-valid", "250 x\xc3", -1, 250,
    { "x\xef\xbf\xbd", NULL }, 0 },
  { "code-0xx", "099 x", -1, 0, { NULL }, 1 },
  { "code-6xx", "600 x", -1, 0, { NULL }, 1 },
  { "code-second-digit-6", "260 x", -1, 0, { NULL }, 1 },
  { "code-letter", "2x0 x", -1, 0, { NULL }, 1 },
  { "code-two-digits", "25", -1, 0, { NULL }, 1 },
  { "code-two-digits-space", "25 x", -1, 0, { NULL }, 1 },
  { "code-four-digits", "2500 x", -1, 0, { NULL }, 1 },
  { "code-fullwidth", "\xef\xbc\x92" "50 x", -1, 0, { NULL }, 1 },
  { "empty-line", "", -1, 0, { NULL }, 1 },
  { "cr-only", "\r", -1, 0, { NULL }, 1 },
  { "leading-space", " 250 x", -1, 0, { NULL }, 1 },
  { "separator-letter", "250x", -1, 0, { NULL }, 1 },
  { "separator-underscore", "250_x", -1, 0, { NULL }, 1 },
  { "separator-tab", "250\tx", -1, 0, { NULL }, 1 },
  { "separator-cr", "250\r\r", -1, 0, { NULL }, 1 },
  { "nul-in-text", "250 a\0b", 7, 0, { NULL }, 1 },
  { "nul-in-code", "25\0 x", 5, 0, { NULL }, 1 },
  { "nul-at-end", "250 a\0", 6, 0, { NULL }, 1 },
  { "nul-in-continuation", "250-a\n250 \0", 11, 0, { NULL }, 2 },
  { "mismatched-code", "250-a\n251 b", -1, 0, { NULL }, 2 },
  { "mismatched-class", "250-a\n550 b", -1, 0, { NULL }, 2 },
  { "mismatched-late", "250-a\n250-b\n250-c\n220 d", -1, 0, { NULL }, 4 },
  { "bad-continuation", "250-a\nhello", -1, 0, { NULL }, 2 },
};

static void
test_parse (gconstpointer data)
{
  const ParseCase *test = data;
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  SmtpClientReplyParseResult result;
  gsize wire_length;
  guint error_line;

  g_test_summary ("Parse a reply from the table: its code and texts, or "
                  "a protocol error on the expected line.");

  wire_length = test->wire_length < 0 ? strlen (test->wire)
                                      : (gsize) test->wire_length;
  result = feed_wire (parser, test->wire, wire_length, &reply, &error_line,
                      &error);
  g_assert_false (smtp_client_reply_parser_is_partial (parser));

  if (test->code == 0)
    {
      g_assert_cmpint (result, ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
      g_assert_cmpuint (error_line, ==, test->error_line);
      g_assert_null (reply);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      g_assert_cmpstr (error->message, !=, "");
      return;
    }

  g_assert_no_error (error);
  g_assert_cmpint (result, ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_nonnull (reply);
  g_assert_cmpuint (reply->code, ==, test->code);
  g_assert_cmpuint (smtp_client_reply_get_class (reply), ==, test->code / 100);
  g_assert_cmpuint (reply->lines->len, ==,
                    g_strv_length ((char **) test->lines));
  for (guint i = 0; i < reply->lines->len; i++)
    {
      const char *text = g_ptr_array_index (reply->lines, i);

      g_assert_cmpstr (text, ==, test->lines[i]);
      g_assert_true (g_utf8_validate (text, -1, NULL));
    }
}

/* Parsing, other cases */

static void
test_parse_incomplete (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(GError) error = NULL;
  SmtpClientReply *reply = NULL;

  g_test_summary ("A continuation line leaves the parser partial with no "
                  "reply, until the last line.");

  g_assert_false (smtp_client_reply_parser_is_partial (parser));
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-a", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  g_assert_no_error (error);
  g_assert_null (reply);
  g_assert_true (smtp_client_reply_parser_is_partial (parser));

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-b", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  g_assert_null (reply);
  g_assert_true (smtp_client_reply_parser_is_partial (parser));

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250 c", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_nonnull (reply);
  g_assert_cmpuint (reply->lines->len, ==, 3);
  g_assert_false (smtp_client_reply_parser_is_partial (parser));
  smtp_client_reply_free (reply);
}

static void
test_parse_sequence (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  const char *wire[] = { "220 hello", "250-a", "250 b", "354 go", "221" };
  const guint codes[] = { 220, 250, 354, 221 };
  guint n_replies = 0;

  g_test_summary ("One parser reads reply after reply.");

  for (gsize i = 0; i < G_N_ELEMENTS (wire); i++)
    {
      g_autoptr(SmtpClientReply) reply = NULL;
      g_autoptr(GError) error = NULL;
      SmtpClientReplyParseResult result;

      result = smtp_client_reply_parser_feed_line (parser, wire[i],
                                                   strlen (wire[i]),
                                                   &reply, &error);
      g_assert_no_error (error);
      if (result == SMTP_CLIENT_REPLY_PARSE_COMPLETE)
        {
          g_assert_cmpuint (n_replies, <, G_N_ELEMENTS (codes));
          g_assert_cmpuint (reply->code, ==, codes[n_replies]);
          n_replies++;
        }
    }
  g_assert_cmpuint (n_replies, ==, G_N_ELEMENTS (codes));
}

static void
test_parse_reset_after_error (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("After an error the parser starts a new reply.");

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-a", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "550 b", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_null (reply);
  g_assert_false (smtp_client_reply_parser_is_partial (parser));
  g_clear_error (&error);

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "220 c", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->code, ==, 220);
  g_assert_cmpuint (reply->lines->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (reply->lines, 0), ==, "c");
}

static void
test_parse_recycle (void)
{
  SmtpClientReplyParser *parser = smtp_client_reply_parser_new ();
  SmtpClientReply *first = NULL;
  SmtpClientReply *second = NULL;
  SmtpClientReply *third = NULL;
  SmtpClientReply *kept = NULL;
  GError *error = NULL;

  g_test_summary ("A reply given back with smtp_client_reply_parser_recycle() "
                  "is used again, emptied, for a later reply; a second one "
                  "given back while one is kept is freed; a parser freed "
                  "with one kept, mid-reply or not, frees it");

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-a", 5,
                                                       &first, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-b", 5,
                                                       &first, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250 c", 5,
                                                       &first, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (first->lines->len, ==, 3);
  kept = smtp_client_reply_copy (first);
  smtp_client_reply_parser_recycle (parser, first);
  smtp_client_reply_parser_recycle (parser, NULL);

  /* The same reply comes back, with only the new reply's line */
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "354 go", 6,
                                                       &second, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_true (second == first);
  g_assert_cmpuint (second->code, ==, 354);
  g_assert_cmpuint (second->lines->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (second->lines, 0), ==, "go");

  /* A copy made before is untouched */
  g_assert_cmpuint (kept->code, ==, 250);
  g_assert_cmpuint (kept->lines->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (kept->lines, 2), ==, "c");

  /* Two replies out at once: the one given back second is freed */
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "221 bye", 7,
                                                       &third, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_true (third != second);
  smtp_client_reply_parser_recycle (parser, second);
  smtp_client_reply_parser_recycle (parser, third);

  /* Freed mid-reply, with its kept reply's array in use */
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-x", 5,
                                                       &third, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  smtp_client_reply_parser_free (parser);
  smtp_client_reply_free (kept);
}

static void
test_parse_reset (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("smtp_client_reply_parser_reset() drops a partial reply.");

  smtp_client_reply_parser_reset (parser);
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-a", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  smtp_client_reply_parser_reset (parser);
  g_assert_false (smtp_client_reply_parser_is_partial (parser));

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "221 c", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->code, ==, 221);
  g_assert_cmpuint (reply->lines->len, ==, 1);

  /* A parser freed while partial frees its lines too. */
  g_clear_pointer (&reply, smtp_client_reply_free);
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-a", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
}

static void
test_parse_null_line (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(GError) error = NULL;
  SmtpClientReply *reply = NULL;

  g_test_summary ("A NULL line of length 0 is an empty line, an error.");

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, NULL, 0,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_null (reply);

  /* The error is optional. */
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "2", 1,
                                                       &reply, NULL),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
}

/* A line of @length bytes, "250 xxx…", in a buffer of exactly that size. */
static char *
make_long_line (gsize length,
                char  separator)
{
  char *line = g_malloc (length);

  memset (line, 'x', length);
  memcpy (line, "250", 3);
  line[3] = separator;
  return line;
}

static void
test_parse_long_line (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  const gsize max = SMTP_CLIENT_REPLY_MAX_LINE;
  g_autofree char *longest = make_long_line (max, ' ');
  g_autofree char *too_long = make_long_line (max + 1, ' ');
  g_autofree char *longest_cr = make_long_line (max + 1, ' ');
  g_autofree char *huge = make_long_line (1024 * 1024, ' ');
  g_autofree char *too_long_continuation = make_long_line (max + 1, '-');
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Lines of SMTP_CLIENT_REPLY_MAX_LINE bytes are accepted "
                  "(a trailing CR not counted); longer ones are errors.");

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, longest, max,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (g_ptr_array_index (reply->lines, 0)), ==,
                    max - 4);
  g_clear_pointer (&reply, smtp_client_reply_free);

  longest_cr[max] = '\r';
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, longest_cr,
                                                       max + 1,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (g_ptr_array_index (reply->lines, 0)), ==,
                    max - 4);
  g_clear_pointer (&reply, smtp_client_reply_free);

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, too_long,
                                                       max + 1,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_null (reply);
  g_clear_error (&error);

  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, huge,
                                                       1024 * 1024,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_clear_error (&error);

  /* Within a multi-line reply: the partial reply is dropped. */
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, "250-a", 5,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_MORE);
  g_assert_cmpint (smtp_client_reply_parser_feed_line (parser,
                                                       too_long_continuation,
                                                       max + 1,
                                                       &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_false (smtp_client_reply_parser_is_partial (parser));
}

/* Feeds @n_lines lines of a reply; returns the result of the last one. */
static SmtpClientReplyParseResult
feed_many_lines (SmtpClientReplyParser  *parser,
                 guint                   n_lines,
                 SmtpClientReply       **out_reply,
                 GError                **error)
{
  for (guint i = 1; i < n_lines; i++)
    {
      SmtpClientReplyParseResult result;

      result = smtp_client_reply_parser_feed_line (parser, "250-x", 5,
                                                   out_reply, error);
      if (result != SMTP_CLIENT_REPLY_PARSE_MORE)
        return result;
    }

  return smtp_client_reply_parser_feed_line (parser, "250 y", 5,
                                             out_reply, error);
}

static void
test_parse_too_many_lines (void)
{
  g_autoptr(SmtpClientReplyParser) parser = smtp_client_reply_parser_new ();
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("A reply may have SMTP_CLIENT_REPLY_MAX_LINES lines, "
                  "not more.");

  g_assert_cmpint (feed_many_lines (parser, SMTP_CLIENT_REPLY_MAX_LINES,
                                    &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_COMPLETE);
  g_assert_no_error (error);
  g_assert_cmpuint (reply->lines->len, ==, SMTP_CLIENT_REPLY_MAX_LINES);
  g_clear_pointer (&reply, smtp_client_reply_free);

  g_assert_cmpint (feed_many_lines (parser, SMTP_CLIENT_REPLY_MAX_LINES + 1,
                                    &reply, &error),
                   ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
  g_assert_null (reply);
  g_assert_false (smtp_client_reply_parser_is_partial (parser));
}

static void
test_parse_error_message (void)
{
  const char *lines[] = {
    "\x01\x7f\xff\xfe garbage",
    "250\x1b[31m red",
    ("HTTP/1.1 400 Bad Request and then a very long line of text that "
     "goes on and on"),
  };

  g_test_summary ("Error messages quote the bad line as valid UTF-8 with "
                  "no control characters, and only its start.");

  for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      g_autoptr(SmtpClientReplyParser) parser =
        smtp_client_reply_parser_new ();
      g_autoptr(GError) error = NULL;
      SmtpClientReply *reply = NULL;

      g_assert_cmpint (smtp_client_reply_parser_feed_line (parser, lines[i],
                                                           strlen (lines[i]),
                                                           &reply, &error),
                       ==, SMTP_CLIENT_REPLY_PARSE_ERROR);
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_PROTOCOL);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
      for (const char *p = error->message; *p != '\0'; p++)
        g_assert_false ((guchar) *p < 0x20 || *p == 0x7f);
      g_assert_null (strstr (error->message, "on and on"));
    }
}

/* Helpers of SmtpClientReply */

typedef struct
{
  const char *name;
  const char *wire;
  const char *string;    /* smtp_client_reply_to_string () */
  const char *one_line;  /* smtp_client_reply_to_one_line () */
  const char *enhanced;  /* smtp_client_reply_get_enhanced_code () */
} FormatCase;

static const FormatCase format_cases[] = {
  { "single", "250 OK", "250 OK", "250 OK", NULL },
  { "code-only", "250", "250", "250", NULL },
  { "empty-text", "250 ", "250", "250", NULL },
  { "multiline", "250-first\n250 last", "250-first\n250 last",
    "250 first last", NULL },
  { "multiline-code-only-last", "250-first\n250", "250-first\n250",
    "250 first", NULL },
  { "multiline-empty-lines", "250-\n250-\n250 x", "250-\n250-\n250 x",
    "250 x", NULL },
  { "enhanced", "250 2.1.5 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "2.1.5" },
  { "enhanced-alone", "250 2.1.5", "250 2.1.5", "250 2.1.5", "2.1.5" },
  { "enhanced-4xx", "452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full",
    "452 4.2.2 Mailbox full", "4.2.2" },
  { "enhanced-three-digits", "550 5.100.999 x", "550 5.100.999 x",
    "550 5.100.999 x", "5.100.999" },
  { "enhanced-class-3", "250 3.1.5 x", "250 3.1.5 x", "250 3.1.5 x", NULL },
  { "enhanced-two-parts", "250 2.1 x", "250 2.1 x", "250 2.1 x", NULL },
  { "enhanced-four-digits", "250 2.1000.5 x", "250 2.1000.5 x",
    "250 2.1000.5 x", NULL },
  { "enhanced-empty-part", "250 2..5 x", "250 2..5 x", "250 2..5 x", NULL },
  { "enhanced-trailing-dot", "250 2.1.5. x", "250 2.1.5. x",
    "250 2.1.5. x", NULL },
  { "enhanced-glued", "250 2.1.5x", "250 2.1.5x", "250 2.1.5x", NULL },
  { "enhanced-not-first-line", "250-hello\n250 2.1.5 Ok",
    "250-hello\n250 2.1.5 Ok", "250 hello 2.1.5 Ok", NULL },
  { "enhanced-repeated",
    "550-5.7.1 The user does not exist.\n"
    "550-5.7.1 Please check the address\n"
    "550 5.7.1 and try again. x1-20020a",
    "550-5.7.1 The user does not exist.\n"
    "550-5.7.1 Please check the address\n"
    "550 5.7.1 and try again. x1-20020a",
    "550 5.7.1 The user does not exist. Please check the address "
    "and try again. x1-20020a",
    "5.7.1" },
  { "enhanced-different-later", "550-5.7.1 a\n550 5.1.1 b",
    "550-5.7.1 a\n550 5.1.1 b", "550 5.7.1 a 5.1.1 b", "5.7.1" },
  { "control-characters", "550 a\tb\x1b" "c\r\r", "550 a\tb\x1b" "c\r",
    "550 a\\x09b\\x1bc\\x0d", NULL },
  { "blank-lines-trimmed", "554-  spaced  \n554  ", "554-  spaced  \n554  ",
    "554 spaced", NULL },
};

static void
test_format (gconstpointer data)
{
  const FormatCase *test = data;
  g_autoptr(SmtpClientReply) reply = parse_reply (test->wire);
  g_autoptr(SmtpClientReply) copy = NULL;
  g_autofree char *string = smtp_client_reply_to_string (reply);
  g_autofree char *one_line = smtp_client_reply_to_one_line (reply);
  g_autofree char *enhanced = smtp_client_reply_get_enhanced_code (reply);
  g_autofree char *copy_string = NULL;

  g_test_summary ("to_string(), to_one_line(), get_enhanced_code() and "
                  "copy() of a reply from the table.");

  g_assert_cmpstr (string, ==, test->string);
  g_assert_cmpstr (one_line, ==, test->one_line);
  g_assert_cmpstr (enhanced, ==, test->enhanced);

  copy = smtp_client_reply_copy (reply);
  g_assert_nonnull (copy);
  g_assert_true (copy != reply);
  g_assert_true (copy->lines != reply->lines);
  g_assert_cmpuint (copy->code, ==, reply->code);
  g_assert_cmpuint (copy->lines->len, ==, reply->lines->len);
  for (guint i = 0; i < copy->lines->len; i++)
    g_assert_true (g_ptr_array_index (copy->lines, i)
                   != g_ptr_array_index (reply->lines, i));
  copy_string = smtp_client_reply_to_string (copy);
  g_assert_cmpstr (copy_string, ==, test->string);
}

static void
test_format_roundtrip (void)
{
  const char *wires[] = {
    "220 mail.example.org ESMTP Postfix",
    "250-mail.example.org\n250-PIPELINING\n250-SIZE 10240000\n250 DSN",
    "354 End data with <CR><LF>.<CR><LF>",
    "221",
  };

  g_test_summary ("to_string() gives back the wire form (without CR).");

  for (gsize i = 0; i < G_N_ELEMENTS (wires); i++)
    {
      g_autoptr(SmtpClientReply) reply = parse_reply (wires[i]);
      g_autofree char *string = smtp_client_reply_to_string (reply);
      g_autoptr(SmtpClientReply) again = parse_reply (string);
      g_autofree char *string_again = smtp_client_reply_to_string (again);

      g_assert_cmpstr (string, ==, wires[i]);
      g_assert_cmpstr (string_again, ==, wires[i]);
    }
}

static void
test_free_null (void)
{
  g_test_summary ("The free functions accept NULL.");

  smtp_client_reply_free (NULL);
  smtp_client_reply_parser_free (NULL);
  smtp_client_capabilities_free (NULL);
}

/* EHLO capabilities, table-driven */

typedef struct
{
  const char *name;
  const char *wire;
  const char *present;     /* keywords, separated by spaces */
  const char *absent;      /* keywords, separated by spaces */
  guint64     size_limit;
  const char *mechanisms;  /* expected, separated by spaces */
  const char *keyword;     /* when set, its parameters are checked */
  const char *parameters;  /* NULL: not offered */
} CapabilitiesCase;

static const CapabilitiesCase capabilities_cases[] = {
  { "postfix",
    "250-mail.example.org\n250-PIPELINING\n250-SIZE 10240000\n250-VRFY\n"
    "250-ETRN\n250-STARTTLS\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n"
    "250-DSN\n250-SMTPUTF8\n250 CHUNKING",
    "PIPELINING SIZE VRFY ETRN STARTTLS ENHANCEDSTATUSCODES 8BITMIME DSN "
    "SMTPUTF8 CHUNKING",
    "AUTH BINARYMIME mail.example.org", 10240000, "",
    "STARTTLS", "" },
  { "gmail",
    "250-smtp.gmail.com at your service, [192.0.2.7]\n250-SIZE 35882577\n"
    "250-8BITMIME\n"
    "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\n"
    "250-ENHANCEDSTATUSCODES\n250-PIPELINING\n250-CHUNKING\n250 SMTPUTF8",
    "SIZE 8BITMIME AUTH ENHANCEDSTATUSCODES PIPELINING CHUNKING SMTPUTF8",
    "STARTTLS", 35882577,
    "LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
    "AUTH", "LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH" },
  { "exchange",
    "250-mx.example.com Hello [192.0.2.1]\n250-SIZE 37748736\n"
    "250-PIPELINING\n250-DSN\n250-ENHANCEDSTATUSCODES\n250-STARTTLS\n"
    "250-X-ANONYMOUSTLS\n250-AUTH NTLM\n250-X-EXPS GSSAPI NTLM\n"
    "250-8BITMIME\n250-BINARYMIME\n250-CHUNKING\n250 XRDST",
    "SIZE X-ANONYMOUSTLS AUTH X-EXPS BINARYMIME XRDST", "X-EXPS-GSSAPI",
    37748736, "NTLM", "X-EXPS", "GSSAPI NTLM" },
  { "exim-obsolete-auth",
    "250-mail.example.net Hello client [192.0.2.9]\n250-SIZE 52428800\n"
    "250-8BITMIME\n250-PIPELINING\n250-AUTH PLAIN LOGIN\n"
    "250-AUTH=PLAIN LOGIN\n250-STARTTLS\n250 HELP",
    "SIZE AUTH STARTTLS HELP", "AUTH=PLAIN", 52428800, "PLAIN LOGIN",
    "AUTH", "PLAIN LOGIN" },
  { "greeting-ignored", "250-PIPELINING\n250 SIZE 100", "SIZE",
    "PIPELINING", 100, "", "PIPELINING", NULL },
  { "greeting-only", "250 STARTTLS", "", "STARTTLS", 0, "", NULL, NULL },
  { "lower-case-keywords",
    "250-mx\n250-pipelining\n250-StartTLS\n250-size 42\n250 auth plain",
    "PIPELINING pipelining Pipelining STARTTLS starttls SIZE Size AUTH",
    "", 42, "PLAIN", "startTLS", "" },
  { "size-without-number", "250-mx\n250 SIZE", "SIZE", "", 0, "",
    "SIZE", "" },
  { "size-spaces", "250-mx\n250 SIZE   2048  ", "SIZE", "", 2048, "",
    "size", "2048" },
  { "size-zero", "250-mx\n250 SIZE 0", "SIZE", "", 0, "", NULL, NULL },
  { "size-leading-zeros", "250-mx\n250 SIZE 000123", "SIZE", "", 123, "",
    NULL, NULL },
  { "size-garbage", "250-mx\n250 SIZE 10M", "SIZE", "", 0, "",
    "SIZE", "10M" },
  { "size-negative", "250-mx\n250 SIZE -5", "SIZE", "", 0, "", NULL, NULL },
  { "size-plus", "250-mx\n250 SIZE +5", "SIZE", "", 0, "", NULL, NULL },
  { "size-two-numbers", "250-mx\n250 SIZE 10 20", "SIZE", "", 0, "",
    NULL, NULL },
  { "size-max", "250-mx\n250 SIZE 18446744073709551615", "SIZE", "",
    G_MAXUINT64, "", NULL, NULL },
  { "size-overflow", "250-mx\n250 SIZE 18446744073709551616", "SIZE", "",
    0, "", NULL, NULL },
  { "size-huge", "250-mx\n250 SIZE 999999999999999999999999999999", "SIZE",
    "", 0, "", NULL, NULL },
  { "size-first-wins", "250-mx\n250-SIZE 100\n250 SIZE 200", "SIZE", "",
    100, "", "SIZE", "100" },
  { "auth", "250-mx\n250 AUTH PLAIN LOGIN", "AUTH", "PLAIN LOGIN", 0,
    "PLAIN LOGIN", "AUTH", "PLAIN LOGIN" },
  { "auth-obsolete-only", "250-mx\n250 AUTH=LOGIN", "AUTH", "", 0,
    "LOGIN", "AUTH", "LOGIN" },
  { "auth-obsolete-first",
    "250-mx\n250-AUTH=LOGIN\n250 AUTH LOGIN PLAIN CRAM-MD5", "AUTH", "", 0,
    "LOGIN PLAIN CRAM-MD5", "AUTH", "LOGIN PLAIN CRAM-MD5" },
  { "auth-merged",
    "250-mx\n250-AUTH=LOGIN XOAUTH2\n250 AUTH PLAIN", "AUTH", "", 0,
    "PLAIN LOGIN XOAUTH2", "AUTH", "PLAIN" },
  { "auth-case-and-duplicates",
    "250-mx\n250-auth plain login Plain\n250 AUTH=Plain xoauth2", "AUTH", "",
    0, "PLAIN LOGIN XOAUTH2", "AUTH", "plain login Plain" },
  { "auth-bad-names",
    "250-mx\n250 AUTH PLAIN\tLOGIN  \xc3\x9c" "BER bad/mech x.y "
    "ABCDEFGHIJKLMNOPQRSTU ABCDEFGHIJKLMNOPQRST under_score",
    "AUTH", "", 0, "PLAIN LOGIN ABCDEFGHIJKLMNOPQRST UNDER_SCORE",
    NULL, NULL },
  { "auth-empty", "250-mx\n250 AUTH", "AUTH", "", 0, "", "AUTH", "" },
  { "auth-blank", "250-mx\n250 AUTH   ", "AUTH", "", 0, "", "AUTH", "" },
  { "auth-equals-empty", "250-mx\n250 AUTH=", "AUTH", "", 0, "",
    "AUTH", "" },
  { "auth-prefix-keyword", "250-mx\n250 AUTHX PLAIN", "AUTHX", "AUTH", 0,
    "", "AUTH", NULL },
  { "not-ehlo-lines",
    "250-mx\n250-\n250- \n250--DASH\n250-FOO_BAR\n250-!bang\n"
    "250-\xc3\xa9t\xc3\xa9\n250-  INDENTED\n250-TAB\tPARAM\n250 OK",
    "OK INDENTED TAB", "FOO_BAR FOO -DASH DASH BANG", 0, "",
    "TAB", "PARAM" },
  { "cr-in-parameters", "250-mx\n250 SIZE 1000\r\r", "SIZE", "", 1000, "",
    NULL, NULL },
  { "not-offered", "250-mx\n250 8BITMIME", "8BITMIME", "SIZE AUTH", 0, "",
    "DSN", NULL },
};

static void
test_capabilities (gconstpointer data)
{
  const CapabilitiesCase *test = data;
  g_autoptr(SmtpClientReply) reply = parse_reply (test->wire);
  g_autoptr(SmtpClientCapabilities) caps = NULL;
  g_auto(GStrv) present = g_strsplit (test->present, " ", -1);
  g_auto(GStrv) absent = g_strsplit (test->absent, " ", -1);
  g_auto(GStrv) mechanisms = NULL;
  g_autofree char *joined = NULL;

  g_test_summary ("The extensions, SIZE limit and AUTH mechanisms read "
                  "from an EHLO reply from the table.");

  caps = smtp_client_capabilities_new_from_ehlo (reply);
  g_assert_nonnull (caps);

  for (guint i = 0; present[i] != NULL; i++)
    {
      if (*present[i] == '\0')
        continue;
      if (!smtp_client_capabilities_has_extension (caps, present[i]))
        g_error ("%s should be offered", present[i]);
      g_assert_nonnull (smtp_client_capabilities_get_parameters (caps,
                                                                 present[i]));
    }

  for (guint i = 0; absent[i] != NULL; i++)
    {
      if (*absent[i] == '\0')
        continue;
      if (smtp_client_capabilities_has_extension (caps, absent[i]))
        g_error ("%s should not be offered", absent[i]);
      g_assert_null (smtp_client_capabilities_get_parameters (caps,
                                                              absent[i]));
    }

  g_assert_cmpuint (smtp_client_capabilities_get_size_limit (caps), ==,
                    test->size_limit);

  mechanisms = smtp_client_capabilities_get_auth_mechanisms (caps);
  g_assert_nonnull (mechanisms);
  joined = g_strjoinv (" ", mechanisms);
  g_assert_cmpstr (joined, ==, test->mechanisms);

  if (test->keyword != NULL)
    g_assert_cmpstr (smtp_client_capabilities_get_parameters (caps,
                                                              test->keyword),
                     ==, test->parameters);
}

static void
test_capabilities_many_mechanisms (void)
{
  g_autoptr(GString) wire = g_string_new ("250-mx\n250-AUTH");
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(SmtpClientCapabilities) caps = NULL;
  g_auto(GStrv) mechanisms = NULL;

  g_test_summary ("A long list of AUTH mechanisms is cut, not grown "
                  "without bound; the first ones are kept.");

  /* 600 names fit in one line of SMTP_CLIENT_REPLY_MAX_LINE bytes. */
  for (guint i = 0; i < 600; i++)
    g_string_append_printf (wire, " M%u", i);
  g_string_append (wire, "\n250 AUTH PLAIN");

  reply = parse_reply (wire->str);
  caps = smtp_client_capabilities_new_from_ehlo (reply);
  mechanisms = smtp_client_capabilities_get_auth_mechanisms (caps);

  g_assert_cmpuint (g_strv_length (mechanisms), >=, 16);
  g_assert_cmpuint (g_strv_length (mechanisms), <=, 128);
  g_assert_false (g_strv_contains ((const char * const *) mechanisms,
                                   "PLAIN"));
  g_assert_cmpstr (mechanisms[0], ==, "M0");
  g_assert_cmpstr (mechanisms[15], ==, "M15");
}

static void
test_capabilities_not_250 (void)
{
  g_autoptr(SmtpClientReply) reply = parse_reply ("502-mx\n502 SIZE 10");
  g_autoptr(SmtpClientCapabilities) caps = NULL;

  g_test_summary ("The capabilities are read whatever the code; checking "
                  "it is the caller's business.");

  caps = smtp_client_capabilities_new_from_ehlo (reply);
  g_assert_nonnull (caps);
  g_assert_true (smtp_client_capabilities_has_extension (caps, "SIZE"));
  g_assert_cmpuint (smtp_client_capabilities_get_size_limit (caps), ==, 10);
}

/* ---------------------------------------------------------------------- */
/* Judging replies: the exact codes of RFC 5321 §4.3.2 */

typedef struct
{
  SmtpClientCommand command;
  guint             success[4];   /* 0-terminated */
  guint             go_on;        /* 354 or 334; 0 for none */
} JudgeCase;

static const JudgeCase judge_cases[] = {
  { SMTP_CLIENT_COMMAND_GREETING, { 220 } },
  { SMTP_CLIENT_COMMAND_EHLO, { 250 } },
  { SMTP_CLIENT_COMMAND_HELO, { 250 } },
  { SMTP_CLIENT_COMMAND_STARTTLS, { 220 } },
  { SMTP_CLIENT_COMMAND_AUTH, { 235 }, 334 },
  { SMTP_CLIENT_COMMAND_AUTH_CANCEL, { 235 } },
  { SMTP_CLIENT_COMMAND_MAIL, { 250 } },
  { SMTP_CLIENT_COMMAND_RCPT, { 250, 251, 252 } },
  { SMTP_CLIENT_COMMAND_DATA, { 0 }, 354 },
  { SMTP_CLIENT_COMMAND_END, { 250 } },
  { SMTP_CLIENT_COMMAND_RSET, { 250 } },
  { SMTP_CLIENT_COMMAND_NOOP, { 250 } },
  { SMTP_CLIENT_COMMAND_QUIT, { 221 } },
};

static void
test_judge (void)
{
  g_test_summary ("Every code 100..599 to every command: the exact success "
                  "and go-ahead codes, 421 closing, 4yz/5yz refused, "
                  "anything else (1yz, another 2yz or 3yz) unexpected");

  for (gsize i = 0; i < G_N_ELEMENTS (judge_cases); i++)
    {
      const JudgeCase *c = &judge_cases[i];

      for (guint code = 100; code < 600; code++)
        {
          SmtpClientVerdict expected = SMTP_CLIENT_VERDICT_UNEXPECTED;
          SmtpClientVerdict verdict;

          for (guint k = 0; c->success[k] != 0; k++)
            if (code == c->success[k])
              expected = SMTP_CLIENT_VERDICT_SUCCESS;
          if (code == c->go_on)
            expected = SMTP_CLIENT_VERDICT_CONTINUE;
          if (code / 100 == 4 || code / 100 == 5)
            expected = SMTP_CLIENT_VERDICT_REFUSED;
          if (code == 421)
            expected = SMTP_CLIENT_VERDICT_CLOSING;

          verdict = smtp_client_reply_judge (c->command, code);
          if (verdict != expected)
            g_error ("%u to %s: verdict %d, expected %d", code,
                     smtp_client_command_get_name (c->command), verdict,
                     expected);
        }
    }
}

static void
test_escape (void)
{
  static const struct { const char *in; gssize length; const char *out; } cases[] = {
    { "plain text", -1, "plain text" },
    { "", -1, "" },
    { "esc\x1b[31m", -1, "esc\\x1b[31m" },
    { "bell\a tab\t cr\r del\x7f", -1,
      "bell\\x07 tab\\x09 cr\\x0d del\\x7f" },
    { "caf\xc3\xa9 \xc2\x9b csi", -1, "caf\xc3\xa9 \\u009b csi" },
    { "bad \xff utf8", -1, "bad \xef\xbf\xbd utf8" },
    { "nul\0inside", 10, "nul\\x00inside" },
  };

  g_test_summary ("Control characters (C0, DEL, C1) come out escaped, "
                  "text that is not UTF-8 is made valid, the rest is kept");

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *escaped = smtp_client_text_escape (cases[i].in,
                                                          cases[i].length);

      g_assert_cmpstr (escaped, ==, cases[i].out);
    }
}

static void
test_extensions (void)
{
  g_autoptr(SmtpClientReply) reply = NULL;
  g_autoptr(SmtpClientCapabilities) caps = NULL;
  SmtpClientExtensions extensions;

  reply = parse_reply ("250-mx.example.org\n250-PIPELINING\n250-size 1000\n"
                       "250-8BITMIME\n250-AUTH=PLAIN\n250-dsn\n"
                       "250 CHUNKING");
  caps = smtp_client_capabilities_new_from_ehlo (reply);
  extensions = smtp_client_capabilities_get_extensions (caps);

  g_assert_cmpuint (extensions, ==,
                    SMTP_CLIENT_EXTENSION_PIPELINING |
                    SMTP_CLIENT_EXTENSION_SIZE |
                    SMTP_CLIENT_EXTENSION_8BITMIME |
                    SMTP_CLIENT_EXTENSION_AUTH |
                    SMTP_CLIENT_EXTENSION_DSN |
                    SMTP_CLIENT_EXTENSION_CHUNKING);
  g_assert_cmpuint (smtp_client_capabilities_get_extensions (NULL), ==, 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (parse_cases); i++)
    {
      g_autofree char *path =
        g_strconcat ("/smtpclient/reply/parse/", parse_cases[i].name, NULL);

      g_test_add_data_func (path, &parse_cases[i], test_parse);
    }
  g_test_add_func ("/smtpclient/reply/multiline/incomplete",
                   test_parse_incomplete);
  g_test_add_func ("/smtpclient/reply/multiline/sequence",
                   test_parse_sequence);
  g_test_add_func ("/smtpclient/reply/parser/reset-after-error",
                   test_parse_reset_after_error);
  g_test_add_func ("/smtpclient/reply/parser/reset", test_parse_reset);
  g_test_add_func ("/smtpclient/reply/parser/recycle", test_parse_recycle);
  g_test_add_func ("/smtpclient/reply/parser/null-line",
                   test_parse_null_line);
  g_test_add_func ("/smtpclient/reply/limits/line-length",
                   test_parse_long_line);
  g_test_add_func ("/smtpclient/reply/limits/line-count",
                   test_parse_too_many_lines);
  g_test_add_func ("/smtpclient/reply/error-message",
                   test_parse_error_message);

  for (gsize i = 0; i < G_N_ELEMENTS (format_cases); i++)
    {
      g_autofree char *path =
        g_strconcat ("/smtpclient/reply/format/", format_cases[i].name, NULL);

      g_test_add_data_func (path, &format_cases[i], test_format);
    }
  g_test_add_func ("/smtpclient/reply/format/roundtrip",
                   test_format_roundtrip);
  g_test_add_func ("/smtpclient/reply/free-null", test_free_null);
  g_test_add_func ("/smtpclient/reply/judge", test_judge);
  g_test_add_func ("/smtpclient/reply/escape", test_escape);
  g_test_add_func ("/smtpclient/reply/capabilities/extensions",
                   test_extensions);

  for (gsize i = 0; i < G_N_ELEMENTS (capabilities_cases); i++)
    {
      g_autofree char *path =
        g_strconcat ("/smtpclient/reply/capabilities/",
                     capabilities_cases[i].name, NULL);

      g_test_add_data_func (path, &capabilities_cases[i], test_capabilities);
    }
  g_test_add_func ("/smtpclient/reply/capabilities/many-mechanisms",
                   test_capabilities_many_mechanisms);
  g_test_add_func ("/smtpclient/reply/capabilities/any-code",
                   test_capabilities_not_250);

  return g_test_run ();
}
