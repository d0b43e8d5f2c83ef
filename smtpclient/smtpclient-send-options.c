/* smtpclient-send-options.c: the connection options that smtpclient-send
 * and smtpclient-bench share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-send-options-private.h"

void
smtp_client_send_credentials_clear (SmtpClientSendCredentials *credentials)
{
  g_clear_pointer (&credentials->auth, g_free);
  g_clear_pointer (&credentials->user, g_free);
  g_clear_pointer (&credentials->password_file, g_free);
  g_clear_pointer (&credentials->ca_file, g_free);
}

gboolean
smtp_client_send_parse_security (const char          *text,
                                 SmtpClientSecurity  *security)
{
  static const struct { const char *name; SmtpClientSecurity value; } names[] = {
    { "none", SMTP_CLIENT_SECURITY_NONE },
    { "starttls-if-available", SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE },
    { "starttls", SMTP_CLIENT_SECURITY_STARTTLS },
    { "tls", SMTP_CLIENT_SECURITY_TLS },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (text, names[i].name) == 0)
      {
        *security = names[i].value;
        return TRUE;
      }

  return FALSE;
}

/* memset through a volatile pointer: a plain memset right before free()
 * is a dead store the compiler may remove */
static void *(*const volatile wipe_memset) (void *, int, size_t) = memset;

/* The password, from the first line of @path; the rest of the file is
 * wiped from memory at once */
static char *
read_password_file (const char  *path,
                    GError     **error)
{
  char *contents = NULL;
  gsize length = 0;
  char *password;

  if (!g_file_get_contents (path, &contents, &length, error))
    return NULL;

  password = g_strndup (contents, strcspn (contents, "\r\n"));
  wipe_memset (contents, 0, length);
  g_free (contents);

  return password;
}

static void
free_password (char *password)
{
  if (password != NULL)
    {
      wipe_memset (password, 0, strlen (password));
      g_free (password);
    }
}

typedef char *SecretString;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC (SecretString, free_password, NULL)

/* Set the password without a copy that GLib frees unwiped (g_object_set()
 * collects the string into a GValue of its own) */
static void
set_password (GObject    *target,
              const char *password)
{
  GValue value = G_VALUE_INIT;

  g_value_init (&value, G_TYPE_STRING);
  g_value_set_static_string (&value, password);
  g_object_set_property (target, "auth-password", &value);
  g_value_unset (&value);
}

gboolean
smtp_client_send_apply_credentials (const SmtpClientSendCredentials  *credentials,
                                    GObject                          *target,
                                    GError                          **error)
{
  g_auto(SecretString) password = NULL;

  if (credentials->password_file != NULL)
    {
      password = read_password_file (credentials->password_file, error);
      if (password == NULL)
        {
          g_prefix_error (error, "--password-file: ");
          return FALSE;
        }
    }
  else if (g_getenv ("SMTPCLIENT_PASSWORD") != NULL)
    {
      password = g_strdup (g_getenv ("SMTPCLIENT_PASSWORD"));
    }

  if (credentials->user != NULL)
    {
      g_object_set (target, "auth-user", credentials->user, NULL);
      set_password (target, password);
    }
  if (credentials->auth != NULL)
    g_object_set (target, "auth-mechanism", credentials->auth, NULL);

  if (credentials->ca_file != NULL)
    {
      g_autoptr(GTlsDatabase) database = NULL;
      /* GTlsFileDatabase takes only an absolute path */
      g_autofree char *path = g_canonicalize_filename (credentials->ca_file,
                                                       NULL);

      database = g_tls_file_database_new (path, error);
      if (database == NULL)
        {
          g_prefix_error (error, "--ca-file: ");
          return FALSE;
        }
      g_object_set (target, "tls-database", database, NULL);
    }

  return TRUE;
}
