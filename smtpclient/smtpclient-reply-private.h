/* smtpclient-reply-private.h: SMTP reply parser (pure, no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Longest reply line accepted, without its line terminator. */
#define SMTP_CLIENT_REPLY_MAX_LINE 4096

/* Most lines a single (multi-line) reply may have; more is a protocol
 * error, so a hostile server cannot make us grow memory without bound. */
#define SMTP_CLIENT_REPLY_MAX_LINES 1024

/**
 * SmtpClientReply:
 * @code: the three-digit reply code, 200..599 range checked by the parser
 *   (first digit 1..5, second 0..5, third 0..9)
 * @lines: (element-type utf8): the text of every line after the code and
 *   the separator (without CR LF); a line with no text is ""
 *
 * One complete SMTP reply (RFC 5321 §4.2).
 */
typedef struct
{
  guint      code;
  GPtrArray *lines;  /* of char*, owned; at least one element */
} SmtpClientReply;

void             smtp_client_reply_free          (SmtpClientReply *reply);
SmtpClientReply *smtp_client_reply_copy          (const SmtpClientReply *reply);

/* The reply as it was on the wire, lines joined with "\n" and no trailing
 * newline, e.g. "250-first\n250 last" ("250" alone when the text is empty). */
char            *smtp_client_reply_to_string     (const SmtpClientReply *reply);

/* The reply as one line for an error message: "550 5.1.1 No such user"
 * (multi-line texts joined with a space after the code). */
char            *smtp_client_reply_to_one_line   (const SmtpClientReply *reply);

/* Class of the reply: 1..5 (the first digit) */
#define smtp_client_reply_get_class(r) ((r)->code / 100)

/* If the reply's first line starts with an RFC 3463 enhanced status code
 * ("2.1.5 "), return it newly allocated ("2.1.5"), else NULL. */
char            *smtp_client_reply_get_enhanced_code (const SmtpClientReply *reply);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientReply, smtp_client_reply_free)

typedef struct _SmtpClientReplyParser SmtpClientReplyParser;

typedef enum
{
  SMTP_CLIENT_REPLY_PARSE_MORE,     /* a continuation line: feed the next */
  SMTP_CLIENT_REPLY_PARSE_COMPLETE, /* *out_reply set (transfer full) */
  SMTP_CLIENT_REPLY_PARSE_ERROR     /* error set (SMTP_CLIENT_ERROR_PROTOCOL);
                                     * the parser is reset */
} SmtpClientReplyParseResult;

SmtpClientReplyParser *smtp_client_reply_parser_new   (void);
void                   smtp_client_reply_parser_free  (SmtpClientReplyParser *parser);
void                   smtp_client_reply_parser_reset (SmtpClientReplyParser *parser);

/* TRUE while a multi-line reply has been started but not finished */
gboolean               smtp_client_reply_parser_is_partial (SmtpClientReplyParser *parser);

/* Feed one line, without its terminating CR LF (a trailing CR, if any, is
 * tolerated and removed).  @line need not be NUL-terminated and may contain
 * any bytes: a NUL byte, a line longer than SMTP_CLIENT_REPLY_MAX_LINE, a
 * code that is not three digits in range, a separator other than ' ' or
 * '-' (or end of line right after the code), a continuation line whose code
 * differs from the first line's, or more than SMTP_CLIENT_REPLY_MAX_LINES
 * lines are all SMTP_CLIENT_REPLY_PARSE_ERROR with SMTP_CLIENT_ERROR_PROTOCOL
 * and a translatable message.  Text that is not valid UTF-8 is kept but
 * made valid (g_utf8_make_valid) so it can be shown and logged. */
SmtpClientReplyParseResult
smtp_client_reply_parser_feed_line (SmtpClientReplyParser *parser,
                                    const char            *line,
                                    gsize                  length,
                                    SmtpClientReply      **out_reply,
                                    GError               **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientReplyParser, smtp_client_reply_parser_free)

/* EHLO capabilities (RFC 5321 §4.1.1.1): built from a 250 reply to EHLO;
 * the first line is the greeting and is skipped; keywords are matched
 * case-insensitively. */
typedef struct _SmtpClientCapabilities SmtpClientCapabilities;

SmtpClientCapabilities *smtp_client_capabilities_new_from_ehlo (const SmtpClientReply *reply);
void                    smtp_client_capabilities_free (SmtpClientCapabilities *caps);
gboolean                smtp_client_capabilities_has_extension (const SmtpClientCapabilities *caps,
                                                                const char *keyword);
/* The parameters after the keyword ("AUTH PLAIN LOGIN" -> "PLAIN LOGIN"),
 * "" when none, NULL when the extension is not offered. */
const char             *smtp_client_capabilities_get_parameters (const SmtpClientCapabilities *caps,
                                                                 const char *keyword);
/* SIZE's limit: 0 when not offered or offered without a number (no limit). */
guint64                 smtp_client_capabilities_get_size_limit (const SmtpClientCapabilities *caps);
/* AUTH mechanisms offered (also from the obsolete "AUTH=" form), upper-cased,
 * NULL-terminated; an empty vector when none. */
GStrv                   smtp_client_capabilities_get_auth_mechanisms (const SmtpClientCapabilities *caps);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientCapabilities, smtp_client_capabilities_free)

G_END_DECLS
