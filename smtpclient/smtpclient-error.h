/* smtpclient-error.h: the library's error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(__SMTPCLIENT_INSIDE__) && !defined(SMTP_CLIENT_COMPILATION)
#error "Only <smtpclient/smtpclient.h> can be included directly."
#endif

#include <glib.h>
#include "smtpclient-version-macros.h"

G_BEGIN_DECLS

/**
 * SMTP_CLIENT_ERROR:
 *
 * Error domain for libsmtpclient. Errors in this domain are from the
 * [error@SmtpClient.Error] enumeration.
 *
 * Since: 1.0
 */
#define SMTP_CLIENT_ERROR (smtp_client_error_quark ())

/**
 * SmtpClientError:
 * @SMTP_CLIENT_ERROR_SERVER: the server refused a command; the message holds
 *   its reply (code and text), see [method@SmtpClient.Task.get_reply_code]
 * @SMTP_CLIENT_ERROR_TIMEOUT: no progress for the configured number of
 *   seconds while waiting for the server
 * @SMTP_CLIENT_ERROR_CONFIGURE: bad or contradictory settings (unknown
 *   mechanism, user without password, address with CR/LF/NUL or `<>`,
 *   credentials refused on an unencrypted connection, second send)
 * @SMTP_CLIENT_ERROR_MESSAGE_FILE: the message content could not be opened
 *   or read
 * @SMTP_CLIENT_ERROR_PROTOCOL: a malformed or unexpected reply from the server
 * @SMTP_CLIENT_ERROR_AUTH_FAILED: the server refused the credentials, or
 *   failed to prove its own identity (SCRAM)
 * @SMTP_CLIENT_ERROR_TLS_UNAVAILABLE: STARTTLS was required but the server
 *   does not offer it or refused it
 * @SMTP_CLIENT_ERROR_NOT_SUPPORTED: the message needs an extension the server
 *   lacks (for example SMTPUTF8 for non-ASCII addresses)
 * @SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE: the message is larger than the
 *   server's declared SIZE limit
 *
 * Error codes in the %SMTP_CLIENT_ERROR domain.  Network, name resolution
 * and TLS failures are reported in GIO's own domains (%G_IO_ERROR,
 * %G_RESOLVER_ERROR, %G_TLS_ERROR), cancellation as
 * %G_IO_ERROR_CANCELLED.
 *
 * Since: 1.0
 */
typedef enum
{
  SMTP_CLIENT_ERROR_SERVER,
  SMTP_CLIENT_ERROR_TIMEOUT,
  SMTP_CLIENT_ERROR_CONFIGURE,
  SMTP_CLIENT_ERROR_MESSAGE_FILE,
  SMTP_CLIENT_ERROR_PROTOCOL,
  SMTP_CLIENT_ERROR_AUTH_FAILED,
  SMTP_CLIENT_ERROR_TLS_UNAVAILABLE,
  SMTP_CLIENT_ERROR_NOT_SUPPORTED,
  SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE,
} SmtpClientError;

SMTP_CLIENT_AVAILABLE_IN_ALL
GQuark smtp_client_error_quark (void);

G_END_DECLS
