/* smtpclient-version-macros.h: export and availability macros
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#if !defined(__SMTPCLIENT_INSIDE__) && !defined(SMTP_CLIENT_COMPILATION)
#error "Only <smtpclient/smtpclient.h> can be included directly."
#endif

#include <glib.h>

#ifndef _SMTP_CLIENT_EXTERN
# define _SMTP_CLIENT_EXTERN __attribute__((visibility("default"))) extern
#endif

/**
 * SMTP_CLIENT_AVAILABLE_IN_ALL:
 *
 * Marks a symbol as part of the public API since the first release.
 */
#define SMTP_CLIENT_AVAILABLE_IN_ALL _SMTP_CLIENT_EXTERN
