/* smtpclient-private.h: things every source file of the library shares
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <glib/gi18n-lib.h>

G_BEGIN_DECLS

/* Binds the gettext domain once; every public entry point that can produce
 * a user-visible string calls it (cheap after the first time). */
void smtp_client_init_i18n (void);

G_END_DECLS
