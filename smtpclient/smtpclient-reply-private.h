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

/* The reply as smtp_client_task_get_reply() gives it: as it was on the
 * wire, lines joined with "\n", each line's text escaped as by
 * smtp_client_text_escape() (the joining newlines are not escaped). */
char            *smtp_client_reply_to_display    (const SmtpClientReply *reply);

/* The reply as one line for an error message: "550 5.1.1 No such user"
 * (multi-line texts joined with a space after the code). */
char            *smtp_client_reply_to_one_line   (const SmtpClientReply *reply);

/* @text (@length bytes, or -1 for NUL-terminated) made valid UTF-8, with
 * every control character escaped: C0 and DEL as "\x1b", C1 as "\u009b",
 * so that a terminal shows them and never acts on them.  Newly allocated. */
char            *smtp_client_text_escape         (const char *text,
                                                  gssize      length);

/* Class of the reply: 1..5 (the first digit) */
#define smtp_client_reply_get_class(r) ((r)->code / 100)

/* If the reply's first line starts with an RFC 3463 enhanced status code
 * ("2.1.5 "), return it newly allocated ("2.1.5"), else NULL. */
char            *smtp_client_reply_get_enhanced_code (const SmtpClientReply *reply);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientReply, smtp_client_reply_free)

/* What a refusal says, from its code and its text (as
 * smtp_client_reply_to_string() writes it, code included):
 * too_many_recipients: a RCPT refused only because the transaction has
 *   enough recipients (452 4.5.3, or 552 5.5.3 from older servers:
 *   RFC 5321 §4.5.3.1.10); the others go in another transaction.
 * throttled: the server limits the rate or the connections (421, 451 4.7.x,
 *   454 4.7.x, or a 4yz whose text says so). */
gboolean         smtp_client_reply_says_too_many_recipients (guint       code,
                                                             const char *text);
gboolean         smtp_client_reply_says_throttled           (guint       code,
                                                             const char *text);

/* The commands (and the greeting) whose replies the client waits for */
typedef enum
{
  SMTP_CLIENT_COMMAND_GREETING,
  SMTP_CLIENT_COMMAND_EHLO,
  SMTP_CLIENT_COMMAND_HELO,
  SMTP_CLIENT_COMMAND_STARTTLS,
  SMTP_CLIENT_COMMAND_AUTH,         /* AUTH and each response to a 334 */
  SMTP_CLIENT_COMMAND_AUTH_CANCEL,  /* the client's "*" (RFC 4954 §4) */
  SMTP_CLIENT_COMMAND_MAIL,
  SMTP_CLIENT_COMMAND_RCPT,
  SMTP_CLIENT_COMMAND_DATA,
  SMTP_CLIENT_COMMAND_END,          /* the end of data, "." */
  SMTP_CLIENT_COMMAND_RSET,
  SMTP_CLIENT_COMMAND_NOOP,
  SMTP_CLIENT_COMMAND_QUIT,
  SMTP_CLIENT_COMMAND_BDAT,         /* a BDAT chunk but the last (whose
                                     * reply is the end of data's) */
  SMTP_CLIENT_N_COMMANDS
} SmtpClientCommand;

/* What a reply code means as the answer to a command (RFC 5321 §4.3.2:
 * the exact codes, not the class) */
typedef enum
{
  SMTP_CLIENT_VERDICT_SUCCESS,    /* e.g. 250 to MAIL, 251 to RCPT */
  SMTP_CLIENT_VERDICT_CONTINUE,   /* 354 to DATA, 334 to AUTH */
  SMTP_CLIENT_VERDICT_REFUSED,    /* 4yz or 5yz, but 421 */
  SMTP_CLIENT_VERDICT_CLOSING,    /* 421: the server is closing */
  SMTP_CLIENT_VERDICT_UNEXPECTED, /* anything else: a protocol error */
} SmtpClientVerdict;

SmtpClientVerdict smtp_client_reply_judge        (SmtpClientCommand command,
                                                  guint             code);
/* The command's name for messages and the log: "EHLO", "end of data" */
const char       *smtp_client_command_get_name   (SmtpClientCommand command);

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
/* Gives back a reply the parser made (transfer full), once handled: its
 * texts freed, it is used again for a later reply */
void                   smtp_client_reply_parser_recycle (SmtpClientReplyParser *parser,
                                                         SmtpClientReply       *reply);

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

/* The extensions the client uses, as flags */
typedef enum
{
  SMTP_CLIENT_EXTENSION_PIPELINING          = 1 << 0,
  SMTP_CLIENT_EXTENSION_SIZE                = 1 << 1,
  SMTP_CLIENT_EXTENSION_8BITMIME            = 1 << 2,
  SMTP_CLIENT_EXTENSION_SMTPUTF8            = 1 << 3,
  SMTP_CLIENT_EXTENSION_DSN                 = 1 << 4,
  SMTP_CLIENT_EXTENSION_STARTTLS            = 1 << 5,
  SMTP_CLIENT_EXTENSION_AUTH                = 1 << 6,
  SMTP_CLIENT_EXTENSION_ENHANCEDSTATUSCODES = 1 << 7,
  SMTP_CLIENT_EXTENSION_CHUNKING            = 1 << 8,
  SMTP_CLIENT_EXTENSION_BINARYMIME          = 1 << 9,
  SMTP_CLIENT_EXTENSION_REQUIRETLS          = 1 << 10,
} SmtpClientExtensions;

/* Those of the extensions above that @caps offers; 0 for NULL (HELO) */
SmtpClientExtensions    smtp_client_capabilities_get_extensions (const SmtpClientCapabilities *caps);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpClientCapabilities, smtp_client_capabilities_free)

G_END_DECLS
