/* smtpclient-envelope-private.h: the MAIL and RCPT commands of a
 * transaction (pure, no sockets)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

#include "smtpclient-enums.h"
#include "smtpclient-reply-private.h"

G_BEGIN_DECLS

typedef struct
{
  const char          *from;            /* "" for the null reverse path */
  const char * const  *recipients;
  guint64              size;            /* 0 when unknown */
  gboolean             is_7bit;         /* known to have no 8-bit byte */
  SmtpClientDsnNotify  dsn_notify;      /* 0: not requested */
  SmtpClientDsnReturn  dsn_return;
  const char          *dsn_envelope_id; /* NULL: none */
  gboolean             binary_mime;     /* BODY=BINARYMIME (RFC 3030) */
  gboolean             require_tls;     /* REQUIRETLS (RFC 8689) */
} SmtpClientEnvelope;

/* Checks an address given by the application: UTF-8, no control
 * character, space, "<" or ">"; empty only when @may_be_empty (the null
 * reverse path).  SMTP_CLIENT_ERROR_CONFIGURE otherwise. */
gboolean smtp_client_address_validate       (const char  *address,
                                             gboolean     may_be_empty,
                                             GError     **error);

/* TRUE when an address of @envelope is not ASCII (RFC 6531) */
gboolean smtp_client_envelope_needs_smtputf8 (const SmtpClientEnvelope *envelope);

/* Whether @envelope can go to a server that offers @offered (with a SIZE
 * limit of @size_limit, 0 for none): SMTP_CLIENT_ERROR_NOT_SUPPORTED
 * (SMTPUTF8, BINARYMIME with CHUNKING, or REQUIRETLS needed),
 * SMTP_CLIENT_ERROR_MESSAGE_TOO_LARGE otherwise.  The caller leaves
 * REQUIRETLS out of @offered on a connection that is not TLS, and CHUNKING
 * when it is not to be used. */
gboolean smtp_client_envelope_check         (const SmtpClientEnvelope  *envelope,
                                             SmtpClientExtensions       offered,
                                             guint64                    size_limit,
                                             GError                   **error);

/* "MAIL FROM:<from>" and the parameters @offered allows: SIZE, BODY,
 * SMTPUTF8, REQUIRETLS, RET, ENVID.  *@dsn_left_out (may be NULL) is set when DSN
 * parameters were asked for but the server does not offer DSN. */
char    *smtp_client_envelope_build_mail    (const SmtpClientEnvelope *envelope,
                                             SmtpClientExtensions      offered,
                                             gboolean                 *dsn_left_out);

/* "RCPT TO:<recipient>" and NOTIFY when asked for and offered */
char    *smtp_client_envelope_build_rcpt    (const SmtpClientEnvelope *envelope,
                                             guint                     index,
                                             SmtpClientExtensions      offered);

/* RFC 3461 §4 xtext: "+XX" for '+', '=' and bytes outside 33..126 */
char    *smtp_client_xtext_encode           (const char *text);

G_END_DECLS
