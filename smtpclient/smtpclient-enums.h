/* smtpclient-enums.h: public enumerations
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(__SMTPCLIENT_INSIDE__) && !defined(SMTP_CLIENT_COMPILATION)
#error "Only <smtpclient/smtpclient.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * SmtpClientSecurity:
 * @SMTP_CLIENT_SECURITY_NONE: plain TCP, no encryption
 * @SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE: upgrade with STARTTLS when the
 *   server offers it, go on in plain text when it does not
 * @SMTP_CLIENT_SECURITY_STARTTLS: upgrade with STARTTLS, fail with
 *   %SMTP_CLIENT_ERROR_TLS_UNAVAILABLE when the server does not offer it
 * @SMTP_CLIENT_SECURITY_TLS: implicit TLS from the first byte (port 465)
 *
 * How the connection to the server is protected.
 *
 * Since: 1.0
 */
typedef enum
{
  SMTP_CLIENT_SECURITY_NONE,
  SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE,
  SMTP_CLIENT_SECURITY_STARTTLS,
  SMTP_CLIENT_SECURITY_TLS,
} SmtpClientSecurity;

/**
 * SmtpClientDsnNotify:
 * @SMTP_CLIENT_DSN_NOTIFY_NEVER: never send a delivery status notification
 * @SMTP_CLIENT_DSN_NOTIFY_SUCCESS: notify on successful delivery
 * @SMTP_CLIENT_DSN_NOTIFY_FAILURE: notify on failed delivery
 * @SMTP_CLIENT_DSN_NOTIFY_DELAY: notify when delivery is delayed
 *
 * When the recipients' servers should send delivery status notifications
 * (RFC 3461 `NOTIFY=`).  An empty set (0) requests nothing; `NEVER` must not
 * be combined with the others.
 *
 * Since: 1.0
 */
typedef enum /*< flags >*/
{
  SMTP_CLIENT_DSN_NOTIFY_NEVER   = 1 << 0,
  SMTP_CLIENT_DSN_NOTIFY_SUCCESS = 1 << 1,
  SMTP_CLIENT_DSN_NOTIFY_FAILURE = 1 << 2,
  SMTP_CLIENT_DSN_NOTIFY_DELAY   = 1 << 3,
} SmtpClientDsnNotify;

/**
 * SmtpClientDsnReturn:
 * @SMTP_CLIENT_DSN_RETURN_DEFAULT: let the server choose (no `RET=`)
 * @SMTP_CLIENT_DSN_RETURN_FULL: return the full message in notifications
 * @SMTP_CLIENT_DSN_RETURN_HEADERS: return only the headers
 *
 * What a delivery status notification carries of the message
 * (RFC 3461 `RET=`).
 *
 * Since: 1.0
 */
typedef enum
{
  SMTP_CLIENT_DSN_RETURN_DEFAULT,
  SMTP_CLIENT_DSN_RETURN_FULL,
  SMTP_CLIENT_DSN_RETURN_HEADERS,
} SmtpClientDsnReturn;

/**
 * SmtpClientDeliveryState:
 * @SMTP_CLIENT_DELIVERY_STATE_PENDING: the delivery has not finished yet
 * @SMTP_CLIENT_DELIVERY_STATE_NOT_SENT: the end of the message never reached
 *   the server: it cannot have the message, and sending it again cannot
 *   duplicate it
 * @SMTP_CLIENT_DELIVERY_STATE_ACCEPTED: the server accepted the message
 * @SMTP_CLIENT_DELIVERY_STATE_REFUSED: the server refused the message or its
 *   envelope with a 4yz (transient) or 5yz (permanent) reply;
 *   [method@SmtpClient.Task.get_reply_code] says which
 * @SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN: the end of the message was sent but
 *   no reply came (the connection was lost, timed out or was cancelled
 *   after the final dot): the server may or may not have queued it, and
 *   sending it again may deliver it twice
 *
 * Whether the server has the message, as far as the client can know.
 * Every failed delivery ends in one of %SMTP_CLIENT_DELIVERY_STATE_NOT_SENT,
 * %SMTP_CLIENT_DELIVERY_STATE_REFUSED or
 * %SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN.
 *
 * Since: 1.0
 */
typedef enum
{
  SMTP_CLIENT_DELIVERY_STATE_PENDING,
  SMTP_CLIENT_DELIVERY_STATE_NOT_SENT,
  SMTP_CLIENT_DELIVERY_STATE_ACCEPTED,
  SMTP_CLIENT_DELIVERY_STATE_REFUSED,
  SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN,
} SmtpClientDeliveryState;

/**
 * SmtpClientProtocol:
 * @SMTP_CLIENT_PROTOCOL_SMTP: SMTP (RFC 5321), with its service extensions
 * @SMTP_CLIENT_PROTOCOL_LMTP: LMTP (RFC 2033): `LHLO` instead of `EHLO`,
 *   and one reply per recipient after the end of the message; what
 *   Dovecot and Cyrus take mail for their mailboxes with, usually on a
 *   Unix domain socket
 *
 * The protocol spoken with the server.
 *
 * Since: 1.0
 */
typedef enum
{
  SMTP_CLIENT_PROTOCOL_SMTP,
  SMTP_CLIENT_PROTOCOL_LMTP,
} SmtpClientProtocol;

G_END_DECLS
