/* smtpclient-test-server.h: an in-process scripted SMTP server for the
 * faults no real server produces on demand
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The server is a GThreadedSocketService on 127.0.0.1 (a free port) whose
 * accepting loop runs in a thread of its own; each connection plays its
 * part of a script in a worker thread with blocking, bounded I/O, so the
 * client under test runs undisturbed on the test's main context.
 *
 * A script is text, one directive a line (blank lines and lines starting
 * with '#' are ignored).  A line "===" starts the part for the next
 * connection; connections beyond the last part play the last part again.
 *
 *   S <text>             send <text> CR LF
 *   SRAW <text>          send <text> with \r \n \t \\ \xHH processed
 *   SBYTES <text>        send <text> CR LF one byte at a time, 2 ms apart
 *   SLONG <n> <prefix>   send <prefix>, <n> 'x', CR LF
 *   C <glob>             read a line and match it without its CR LF
 *                        (g_pattern_match_simple: * and ?); a mismatch, an
 *                        end or SMTP_TEST_SERVER_WAIT seconds of silence fail
 *   CDATA                read message content through the line "."; it is
 *                        kept as a message (see _get_messages)
 *   CPART                read one line of content (the upload has begun)
 *   CANY                 wait until the client sends anything (bounded),
 *                        e.g. a TLS ClientHello
 *   SLEEP <ms>           pause
 *   CLOSE                close the connection (FIN)
 *   RESET                close it with an RST
 *   EXPECT-CLOSE         read until the client closes (a bounded wait);
 *                        silence from the server meanwhile
 *   STARTTLS             turn the connection into TLS as the server, with
 *                        the test certificate (send the 220 with S first)
 *   TLS                  the same, as the first directive: implicit TLS
 *   SERVE [PIPELINING] [CHUNKING] [BINARYMIME] [SMTPUTF8] [REQUIRETLS]
 *         [STARTTLS] [AUTH] [LMTP] [NOQUIT] [OPTION=n]...
 *                        from here on, a well-behaved server: EHLO, HELO,
 *                        STARTTLS, AUTH (LOGIN, PLAIN: any credentials),
 *                        MAIL, RCPT, DATA, BDAT (RFC 3030), RSET, NOOP,
 *                        QUIT, the messages kept; until the client quits
 *                        or closes (with NOQUIT, QUIT is not answered: the
 *                        script goes on).  The keywords are offered as
 *                        named (REQUIRETLS only over TLS, as RFC 8689
 *                        says).  Recipients whose name starts with
 *                        "unknown" are refused at RCPT (550).  With LMTP
 *                        (RFC 2033): LHLO instead of EHLO and HELO, and
 *                        after the data one reply per accepted recipient:
 *                        552 to those whose name starts with "full".
 *                        The limits real servers have:
 *                        MAIL-452=n  after n messages on a connection,
 *                                    MAIL gets OpenSMTPD's "452 4.5.3 Too
 *                                    many recipients: Too many messages"
 *                        MAIL-421=n  ... gets Exim's 421, and it closes
 *                        RCPT-452=n  n recipients per transaction, then
 *                                    "452 4.5.3 Too many recipients"
 *                        IDLE-CLOSE=s  closes after s seconds of silence
 *                        IDLE-421=s    says 421, then closes, likewise
 *                        THROTTLE=k:ms once k messages were accepted (on
 *                                    all connections), MAIL gets "454
 *                                    4.7.0 Throttling failure" for ms
 *                        BDAT-552=n  the n-th BDAT chunk of a message
 *                                    gets "552 5.3.4", and every chunk
 *                                    after it 503
 *   SCRAM <SHA-1|SHA-256> <user> <password> [PLUS] [WRONG-BINDING]
 *                        the server side of a SCRAM exchange, with
 *                        channel binding (see smtpclient-test-scram.c)
 *
 * When a part ends, the connection stays open until the client closes it
 * (a bounded wait), and what comes meanwhile is recorded.
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Every wait of the server is bounded by this many seconds */
#define SMTP_TEST_SERVER_WAIT 10

typedef struct _SmtpTestScriptServer SmtpTestScriptServer;

/* Start listening; fails the test (g_error) when the script is not valid */
SmtpTestScriptServer *smtp_test_script_server_new  (const char *script);
void                  smtp_test_script_server_free (SmtpTestScriptServer *server);

guint   smtp_test_script_server_get_port       (SmtpTestScriptServer *server);

/* Iterate the thread-default main context until @n connections have been
 * accepted and have ended (bounded: SMTP_TEST_WAIT_SECONDS, then
 * g_error) */
void    smtp_test_script_server_wait           (SmtpTestScriptServer *server,
                                                guint                 n);

/* Connections accepted so far */
guint   smtp_test_script_server_get_n_connections (SmtpTestScriptServer *server);

/* What the client sent on connection @index (0 for the first), as bytes;
 * over TLS, decrypted */
GBytes *smtp_test_script_server_get_received   (SmtpTestScriptServer *server,
                                                guint                 index);

/* The command lines (without CR LF) the client sent on connection @index
 * outside of message content (transfer full) */
GStrv   smtp_test_script_server_get_commands   (SmtpTestScriptServer *server,
                                                guint                 index);

/* Every message content received with CDATA or SERVE, on all the
 * connections, in order (element-type GBytes, transfer container): as on
 * the wire between the 354 and the final ".", dot-stuffing undone */
GPtrArray *smtp_test_script_server_get_messages (SmtpTestScriptServer *server);

/* When SERVE got each MAIL command (g_get_monotonic_time()), on all the
 * connections, in order (element-type gint64, transfer full) */
GArray *smtp_test_script_server_get_mail_times (SmtpTestScriptServer *server);

/* NULL when every part that ran played to its end; else the first
 * failure, e.g. "connection 0, line 6: got 'QUIT', expected 'RSET'" */
const char *smtp_test_script_server_get_failure (SmtpTestScriptServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpTestScriptServer, smtp_test_script_server_free)

G_END_DECLS
