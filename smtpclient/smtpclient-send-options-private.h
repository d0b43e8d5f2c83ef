/* smtpclient-send-options-private.h: the connection options that
 * smtpclient-send and smtpclient-bench share (--security, --auth,
 * --user, --password-file or SMTPCLIENT_PASSWORD, --ca-file)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <smtpclient/smtpclient.h>

G_BEGIN_DECLS

/* What the options gave; NULL for an option not given */
typedef struct
{
  char *auth;            /* --auth MECH */
  char *user;            /* --user NAME */
  char *password_file;   /* --password-file FILE */
  char *ca_file;         /* --ca-file FILE */
} SmtpClientSendCredentials;

void     smtp_client_send_credentials_clear  (SmtpClientSendCredentials *credentials);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SmtpClientSendCredentials,
                                  smtp_client_send_credentials_clear)

/* "none", "starttls-if-available", "starttls", "tls" (any case) */
gboolean smtp_client_send_parse_security     (const char                *text,
                                              SmtpClientSecurity        *security);

/* Sets the auth mechanism, the user and its password (the first line of
 * the password file, else $SMTPCLIENT_PASSWORD; never kept in memory
 * unwiped) and the CA file's database on @target, a task or a session;
 * FALSE with @error, whose message names the option, when one of them
 * cannot be used. */
gboolean smtp_client_send_apply_credentials  (const SmtpClientSendCredentials *credentials,
                                              GObject                         *target,
                                              GError                         **error);

G_END_DECLS
