/* smtpclient-i18n.c: lazy gettext set-up
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-private.h"

/* The catalogues are looked up in the installed locale directory.  The
 * environment variable SMTPCLIENT_LOCALEDIR overrides it: the tests point it
 * at the build tree, where the .mo files are built before installation. */
void
smtp_client_init_i18n (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      const char *localedir = g_getenv ("SMTPCLIENT_LOCALEDIR");

      if (localedir == NULL || *localedir == '\0')
        localedir = SMTP_CLIENT_LOCALEDIR;

      bindtextdomain (GETTEXT_PACKAGE, localedir);
      bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
      g_once_init_leave (&initialized, 1);
    }
}
