/* smtpclient-error.c: the library's error domain
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-error.h"

G_DEFINE_QUARK (smtp-client-error-quark, smtp_client_error)
