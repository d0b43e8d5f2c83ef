/* smtpclient-error.c: the library's error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-error.h"

/**
 * smtp_client_error_quark:
 *
 * The error domain of libsmtpclient; use %SMTP_CLIENT_ERROR instead.
 *
 * Returns: the quark of the %SMTP_CLIENT_ERROR domain
 *
 * Since: 1.0
 */
G_DEFINE_QUARK (smtp-client-error-quark, smtp_client_error)
