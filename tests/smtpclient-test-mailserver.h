/* smtpclient-test-mailserver.h: real mail servers (Postfix smtpd with
 * Dovecot SASL, Dovecot LMTP, Exim) started by the tests themselves with a
 * private configuration under a temporary directory, on loopback ports or
 * a Unix socket — never the system's mail set-up.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each kind is started by a launcher, tests/servers/mailserver-KIND.py
 * (run with /usr/bin/python3), which speaks this protocol on stdout:
 *
 *   SKIP <reason>        it cannot run here (not root, a package missing);
 *                        the launcher then exits 0 at once
 *   READY <json object>  the server accepts connections; the object holds
 *                        the keys listed below (absent when not offered)
 *
 * and stops everything it started (and removes nothing the test reads
 * afterwards until it exits) when its stdin reaches end-of-file.  Options
 * come after the launcher's name as "--name=value" arguments; every
 * launcher accepts --dir=DIR (its private directory, made by the caller)
 * and ignores options it does not know only if they start with "--x-".
 *
 * Keys of the READY object:
 *   "smtp_port"         plain SMTP with STARTTLS offered (submission-like)
 *   "submissions_port"  implicit TLS from the first byte
 *   "lmtp_socket"       absolute path of an LMTP Unix socket
 *   "ca_file"           PEM of the throwaway CA that signed the server
 *                       certificate (made at start; name "localhost",
 *                       IP 127.0.0.1)
 *   "user", "password"  credentials the server's SASL accepts
 *   "mailboxes"         object: address -> Maildir "new" directory where
 *                       messages for that address are stored
 *   "log"               path of the server's log file
 *   "dovecot_log"       Postfix: the log of its Dovecot (SASL, delivery)
 *   "mechanisms"        array of the SASL mechanisms offered (after TLS)
 *   "size_limit"        the SIZE limit in octets, when set
 *   "stores_lf"         true when stored messages have bare LF line ends
 *                       (Postfix's local delivery, Exim's appendfile);
 *                       absent or false when the store keeps CRLF
 *
 * Launcher-specific options and mailboxes are described at the top of
 * each launcher (e.g. Postfix: --size=N, --delivery=lda|lmtp,
 * --discard-ehlo=KEYWORD,...; Dovecot LMTP: full@example.org, over quota
 * for anything above 1 KB).  The launchers need root; they say SKIP
 * otherwise.
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SmtpTestMailServer SmtpTestMailServer;

/* Start tests/servers/mailserver-@kind.py ("postfix", "dovecot-lmtp",
 * "exim") with the given extra options (NULL-terminated,
 * "--name=value").  Bounded wait.  When the launcher says SKIP, calls
 * g_test_skip() with its reason and returns NULL; any other failure to
 * start fails the test. */
SmtpTestMailServer *smtp_test_mailserver_start (const char *kind,
                                                const char *first_option,
                                                ...) G_GNUC_NULL_TERMINATED;

/* A key of the READY object: an integer key (a port) */
guint        smtp_test_mailserver_get_port     (SmtpTestMailServer *server,
                                                const char         *key);
/* A string key, or NULL when absent */
const char  *smtp_test_mailserver_get_string   (SmtpTestMailServer *server,
                                                const char         *key);
/* The throwaway CA as a GTlsDatabase (owned by the server) */
GTlsDatabase *smtp_test_mailserver_get_tls_database (SmtpTestMailServer *server);

/* Wait (bounded, iterating the thread-default main context) until the
 * mailbox of @address holds at least @n messages; returns them (element
 * type GBytes, the stored files as they are, oldest first; free with
 * g_ptr_array_unref).  Fails the test on time-out. */
GPtrArray   *smtp_test_mailserver_wait_messages (SmtpTestMailServer *server,
                                                 const char         *address,
                                                 guint               n);
/* The messages of @address stored so far, without waiting */
GPtrArray   *smtp_test_mailserver_get_messages (SmtpTestMailServer *server,
                                                const char         *address);

/* The server's log as it is now */
char        *smtp_test_mailserver_get_log      (SmtpTestMailServer *server);

/* Stop it (bounded wait) and remove its directory */
void         smtp_test_mailserver_free         (SmtpTestMailServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpTestMailServer, smtp_test_mailserver_free)

/* TRUE when @stored (a message as a server stored it: its own header
 * lines, e.g. Return-Path, Received, Delivered-To, then what the client
 * sent) ends with @sent byte for byte; when the server stores bare LF
 * line ends ("stores_lf"), each CRLF of @sent is compared as LF */
gboolean     smtp_test_mailserver_stored_is    (SmtpTestMailServer *server,
                                                GBytes             *stored,
                                                GBytes             *sent);

G_END_DECLS
