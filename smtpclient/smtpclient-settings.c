/* smtpclient-settings.c: connection settings shared by task and session
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-connection-private.h"
#include "smtpclient-enum-types.h"
#include "smtpclient-error.h"
#include "smtpclient-private.h"
#include "smtpclient-sasl-private.h"

SmtpClientSettings *
smtp_client_settings_new (void)
{
  SmtpClientSettings *settings = g_new0 (SmtpClientSettings, 1);

  g_atomic_ref_count_init (&settings->ref_count);
  settings->server = g_strdup ("localhost");
  settings->timeout = 30;
  settings->my_hostname = g_strdup ("localhost");
  settings->security = SMTP_CLIENT_SECURITY_NONE;

  return settings;
}

SmtpClientSettings *
smtp_client_settings_ref (SmtpClientSettings *settings)
{
  g_atomic_ref_count_inc (&settings->ref_count);
  return settings;
}

void
smtp_client_settings_unref (SmtpClientSettings *settings)
{
  if (!g_atomic_ref_count_dec (&settings->ref_count))
    return;

  g_free (settings->server);
  g_free (settings->my_hostname);
  g_free (settings->bind_address);
  g_free (settings->auth_mechanism);
  g_free (settings->auth_user);
  if (settings->auth_password != NULL)
    {
      memset (settings->auth_password, 0, strlen (settings->auth_password));
      g_free (settings->auth_password);
    }
  g_clear_object (&settings->tls_database);
  g_clear_object (&settings->tls_certificate);
  g_clear_object (&settings->proxy_resolver);
  g_free (settings->alias);
  g_free (settings);
}

guint
smtp_client_settings_get_port (const SmtpClientSettings *settings)
{
  if (settings->port != 0)
    return settings->port;

  return settings->security == SMTP_CLIENT_SECURITY_TLS ? 465 : 25;
}

static gboolean
is_clean_line (const char *text)
{
  for (const char *p = text; *p != '\0'; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return FALSE;

  return TRUE;
}

gboolean
smtp_client_settings_validate (const SmtpClientSettings  *settings,
                               GError                   **error)
{
  smtp_client_init_i18n ();

  if (settings->server == NULL || *settings->server == '\0')
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("No server is set"));
      return FALSE;
    }

  if (settings->port > 65535 || settings->bind_port > 65535)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("A port number must be between 1 and 65535"));
      return FALSE;
    }

  if (settings->my_hostname == NULL || *settings->my_hostname == '\0' ||
      !is_clean_line (settings->my_hostname) ||
      strchr (settings->my_hostname, ' ') != NULL)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("The host name to announce (my-hostname) must be "
                             "a non-empty name without spaces or control "
                             "characters"));
      return FALSE;
    }

  if (settings->bind_address != NULL &&
      !g_hostname_is_ip_address (settings->bind_address))
    {
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                   _("The bind address “%s” is not an IP address"),
                   settings->bind_address);
      return FALSE;
    }

  if (settings->auth_mechanism != NULL &&
      !smtp_client_sasl_is_supported (settings->auth_mechanism))
    {
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                   _("Unknown authentication mechanism “%s”"),
                   settings->auth_mechanism);
      return FALSE;
    }

  if (settings->auth_user != NULL && settings->auth_password == NULL)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("An authentication user is set without a password"));
      return FALSE;
    }

  if (settings->auth_user == NULL &&
      (settings->auth_password != NULL || settings->auth_mechanism != NULL))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("An authentication password or mechanism is set "
                             "without a user"));
      return FALSE;
    }

  if (settings->auth_user != NULL &&
      settings->security == SMTP_CLIENT_SECURITY_NONE &&
      !settings->allow_insecure_auth)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("Refusing to send credentials over an unencrypted "
                             "connection (set a security mode, or "
                             "allow-insecure-auth)"));
      return FALSE;
    }

  return TRUE;
}

SmtpClientSettings *
smtp_client_settings_copy (const SmtpClientSettings *settings)
{
  SmtpClientSettings *copy = g_new0 (SmtpClientSettings, 1);

  g_atomic_ref_count_init (&copy->ref_count);
  copy->server = g_strdup (settings->server);
  copy->port = settings->port;
  copy->timeout = settings->timeout;
  copy->my_hostname = g_strdup (settings->my_hostname);
  copy->bind_address = g_strdup (settings->bind_address);
  copy->bind_port = settings->bind_port;
  copy->security = settings->security;
  copy->allow_insecure_auth = settings->allow_insecure_auth;
  copy->auth_mechanism = g_strdup (settings->auth_mechanism);
  copy->auth_user = g_strdup (settings->auth_user);
  copy->auth_password = g_strdup (settings->auth_password);
  g_set_object (&copy->tls_database, settings->tls_database);
  g_set_object (&copy->tls_certificate, settings->tls_certificate);
  g_set_object (&copy->proxy_resolver, settings->proxy_resolver);
  copy->debug = settings->debug;
  copy->alias = g_strdup (settings->alias);

  return copy;
}

/* ---------------------------------------------------------------------- */
/* The connection properties, installed on both SmtpClientTask and
 * SmtpClientSession with the same names and meanings. */

void
smtp_client_settings_install_properties (GObjectClass  *klass,
                                         guint          first_prop_id,
                                         GParamSpec   **pspecs)
{
  const GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                            G_PARAM_STATIC_STRINGS;

  pspecs[SETTINGS_PROP_SERVER] =
    g_param_spec_string ("server", NULL, NULL, "localhost", flags);
  pspecs[SETTINGS_PROP_PORT] =
    g_param_spec_uint ("port", NULL, NULL, 0, 65535, 25, flags);
  pspecs[SETTINGS_PROP_TIMEOUT] =
    g_param_spec_uint ("timeout", NULL, NULL, 0, G_MAXUINT / 1000, 30, flags);
  pspecs[SETTINGS_PROP_MY_HOSTNAME] =
    g_param_spec_string ("my-hostname", NULL, NULL, "localhost", flags);
  pspecs[SETTINGS_PROP_BIND_ADDRESS] =
    g_param_spec_string ("bind-address", NULL, NULL, NULL, flags);
  pspecs[SETTINGS_PROP_BIND_PORT] =
    g_param_spec_uint ("bind-port", NULL, NULL, 0, 65535, 0, flags);
  pspecs[SETTINGS_PROP_SECURITY] =
    g_param_spec_enum ("security", NULL, NULL, SMTP_CLIENT_TYPE_SECURITY,
                       SMTP_CLIENT_SECURITY_NONE, flags);
  pspecs[SETTINGS_PROP_ALLOW_INSECURE_AUTH] =
    g_param_spec_boolean ("allow-insecure-auth", NULL, NULL, FALSE, flags);
  pspecs[SETTINGS_PROP_AUTH_MECHANISM] =
    g_param_spec_string ("auth-mechanism", NULL, NULL, NULL, flags);
  pspecs[SETTINGS_PROP_AUTH_USER] =
    g_param_spec_string ("auth-user", NULL, NULL, NULL, flags);
  pspecs[SETTINGS_PROP_AUTH_PASSWORD] =
    g_param_spec_string ("auth-password", NULL, NULL, NULL, flags);
  pspecs[SETTINGS_PROP_TLS_DATABASE] =
    g_param_spec_object ("tls-database", NULL, NULL, G_TYPE_TLS_DATABASE, flags);
  pspecs[SETTINGS_PROP_TLS_CERTIFICATE] =
    g_param_spec_object ("tls-certificate", NULL, NULL, G_TYPE_TLS_CERTIFICATE,
                         flags);
  pspecs[SETTINGS_PROP_PROXY_RESOLVER] =
    g_param_spec_object ("proxy-resolver", NULL, NULL, G_TYPE_PROXY_RESOLVER,
                         flags);

  for (guint i = 0; i < N_SETTINGS_PROPS; i++)
    g_object_class_install_property (klass, first_prop_id + i, pspecs[i]);
}

static gboolean
replace_string (char       **field,
                const char  *value)
{
  if (g_strcmp0 (*field, value) == 0)
    return FALSE;

  g_free (*field);
  *field = g_strdup (value);
  return TRUE;
}

static gboolean
replace_uint (guint *field,
              guint  value)
{
  if (*field == value)
    return FALSE;

  *field = value;
  return TRUE;
}

gboolean
smtp_client_settings_set_property (SmtpClientSettings *settings,
                                   guint               index,
                                   const GValue       *value)
{
  switch ((SmtpClientSettingsProp) index)
    {
    case SETTINGS_PROP_SERVER:
      return replace_string (&settings->server, g_value_get_string (value));
    case SETTINGS_PROP_PORT:
      return replace_uint (&settings->port, g_value_get_uint (value));
    case SETTINGS_PROP_TIMEOUT:
      return replace_uint (&settings->timeout, g_value_get_uint (value));
    case SETTINGS_PROP_MY_HOSTNAME:
      return replace_string (&settings->my_hostname, g_value_get_string (value));
    case SETTINGS_PROP_BIND_ADDRESS:
      return replace_string (&settings->bind_address, g_value_get_string (value));
    case SETTINGS_PROP_BIND_PORT:
      return replace_uint (&settings->bind_port, g_value_get_uint (value));
    case SETTINGS_PROP_SECURITY:
      return replace_uint (&settings->security, g_value_get_enum (value));
    case SETTINGS_PROP_ALLOW_INSECURE_AUTH:
      return replace_uint ((guint *) &settings->allow_insecure_auth,
                           g_value_get_boolean (value));
    case SETTINGS_PROP_AUTH_MECHANISM:
      return replace_string (&settings->auth_mechanism, g_value_get_string (value));
    case SETTINGS_PROP_AUTH_USER:
      return replace_string (&settings->auth_user, g_value_get_string (value));
    case SETTINGS_PROP_AUTH_PASSWORD:
      if (g_strcmp0 (settings->auth_password, g_value_get_string (value)) == 0)
        return FALSE;
      if (settings->auth_password != NULL)
        memset (settings->auth_password, 0, strlen (settings->auth_password));
      g_free (settings->auth_password);
      settings->auth_password = g_value_dup_string (value);
      return TRUE;
    case SETTINGS_PROP_TLS_DATABASE:
      return g_set_object (&settings->tls_database, g_value_get_object (value));
    case SETTINGS_PROP_TLS_CERTIFICATE:
      return g_set_object (&settings->tls_certificate, g_value_get_object (value));
    case SETTINGS_PROP_PROXY_RESOLVER:
      return g_set_object (&settings->proxy_resolver, g_value_get_object (value));
    case N_SETTINGS_PROPS:
    default:
      g_assert_not_reached ();
    }
}

void
smtp_client_settings_get_property (const SmtpClientSettings *settings,
                                   guint                     index,
                                   GValue                   *value)
{
  switch ((SmtpClientSettingsProp) index)
    {
    case SETTINGS_PROP_SERVER:
      g_value_set_string (value, settings->server);
      break;
    case SETTINGS_PROP_PORT:
      g_value_set_uint (value, smtp_client_settings_get_port (settings));
      break;
    case SETTINGS_PROP_TIMEOUT:
      g_value_set_uint (value, settings->timeout);
      break;
    case SETTINGS_PROP_MY_HOSTNAME:
      g_value_set_string (value, settings->my_hostname);
      break;
    case SETTINGS_PROP_BIND_ADDRESS:
      g_value_set_string (value, settings->bind_address);
      break;
    case SETTINGS_PROP_BIND_PORT:
      g_value_set_uint (value, settings->bind_port);
      break;
    case SETTINGS_PROP_SECURITY:
      g_value_set_enum (value, settings->security);
      break;
    case SETTINGS_PROP_ALLOW_INSECURE_AUTH:
      g_value_set_boolean (value, settings->allow_insecure_auth);
      break;
    case SETTINGS_PROP_AUTH_MECHANISM:
      g_value_set_string (value, settings->auth_mechanism);
      break;
    case SETTINGS_PROP_AUTH_USER:
      g_value_set_string (value, settings->auth_user);
      break;
    case SETTINGS_PROP_AUTH_PASSWORD:
      g_value_set_string (value, settings->auth_password);
      break;
    case SETTINGS_PROP_TLS_DATABASE:
      g_value_set_object (value, settings->tls_database);
      break;
    case SETTINGS_PROP_TLS_CERTIFICATE:
      g_value_set_object (value, settings->tls_certificate);
      break;
    case SETTINGS_PROP_PROXY_RESOLVER:
      g_value_set_object (value, settings->proxy_resolver);
      break;
    case N_SETTINGS_PROPS:
    default:
      g_assert_not_reached ();
    }
}
