/* smtpclient-settings.c: connection settings shared by task and session
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-settings-private.h"
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
  settings->max_retries = 2;
  settings->retry_delay = 1000;
  settings->protocol = SMTP_CLIENT_PROTOCOL_SMTP;
  settings->chunking = TRUE;

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
  smtp_client_secret_free (settings->auth_password);
  g_clear_object (&settings->tls_database);
  g_clear_object (&settings->tls_certificate);
  g_clear_object (&settings->proxy_resolver);
  g_free (settings->tls_name);
  g_free (settings);
}

guint
smtp_client_settings_get_port (const SmtpClientSettings *settings)
{
  if (settings->port != 0)
    return settings->port;

  return settings->security == SMTP_CLIENT_SECURITY_TLS ? 465 : 25;
}

gboolean
smtp_client_settings_is_unix_socket (const SmtpClientSettings *settings)
{
  return settings->server != NULL && g_path_is_absolute (settings->server);
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

  if (smtp_client_settings_is_unix_socket (settings) &&
      settings->security != SMTP_CLIENT_SECURITY_NONE)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                           _("TLS is not supported over a Unix domain socket"));
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
  copy->max_retries = settings->max_retries;
  copy->retry_delay = settings->retry_delay;
  copy->protocol = settings->protocol;
  copy->chunking = settings->chunking;
  copy->tls_name = g_strdup (settings->tls_name);

  return copy;
}

/* ---------------------------------------------------------------------- */
/* The connection properties, installed on both SmtpClientTask and
 * SmtpClientSession with the same names and meanings. */

/* The documentation of the connection properties, for both classes. */

/**
 * SmtpClientTask:server:
 *
 * The SMTP server to connect to: a host name, or an IPv4 or IPv6
 * address (the seed's `Server`).  With a TLS security mode it is also the
 * name the server's certificate must match.  An absolute path is a Unix
 * domain socket (where LMTP servers usually listen, see
 * [property@SmtpClient.Task:protocol]); [property@SmtpClient.Task:port] is
 * ignored then, and the security mode must be
 * %SMTP_CLIENT_SECURITY_NONE.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:port:
 *
 * The TCP port of the server (the seed's `Port`).  0 means the
 * default: 465 when [property@SmtpClient.Task:security] is
 * %SMTP_CLIENT_SECURITY_TLS, 25 otherwise; reading the property returns the
 * port that will be used.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:timeout:
 *
 * An idle timeout in seconds (the seed's `Timeout`): when one wait
 * (connecting, the TLS handshake, a reply, a write) makes no progress for
 * this long, the delivery fails with %SMTP_CLIENT_ERROR_TIMEOUT and the
 * connection is closed.  0 waits forever.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:my-hostname:
 *
 * The host name announced in `EHLO`/`HELO` (the seed's
 * `MyHostname`).
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:bind-address:
 *
 * The local IP address to connect from (the seed's
 * `BindAddress`), or %NULL to let the system choose.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:bind-port:
 *
 * The local port to connect from (the seed's `BindPort`), or 0 to
 * let the system choose.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:security:
 *
 * How the connection is protected: plain TCP, STARTTLS (required
 * or opportunistic) or implicit TLS.  Whenever TLS is used the server's
 * certificate is verified; see [signal@SmtpClient.Task::accept-certificate].
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:allow-insecure-auth:
 *
 * Whether credentials may be sent over a connection that is not
 * encrypted.  When %FALSE (the default), a delivery with
 * [property@SmtpClient.Task:auth-user] set fails with
 * %SMTP_CLIENT_ERROR_CONFIGURE before anything is sent, unless the
 * connection is encrypted.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:auth-mechanism:
 *
 * The SASL mechanism to authenticate with: `PLAIN`, `LOGIN`,
 * `CRAM-MD5`, `XOAUTH2`, `OAUTHBEARER`, `SCRAM-SHA-1`, `SCRAM-SHA-256`,
 * or `SCRAM-SHA-1-PLUS` and `SCRAM-SHA-256-PLUS` (SCRAM bound to the TLS
 * connection; they need one).  %NULL chooses the strongest one the server
 * offers that fits a password: over TLS a -PLUS mechanism first.  For
 * `XOAUTH2` and `OAUTHBEARER`, name them here.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:auth-user:
 *
 * The user name to authenticate as, or %NULL not to authenticate.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:auth-password:
 *
 * The password for [property@SmtpClient.Task:auth-user]; for
 * `XOAUTH2` and `OAUTHBEARER`, the OAuth 2.0 access token.  It never
 * appears in the transaction log.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:tls-database:
 *
 * The certificate authorities to verify the server's certificate
 * against, or %NULL for the system's.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:tls-certificate:
 *
 * A client certificate (with its private key) to present to the
 * server during the TLS handshake, or %NULL.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:proxy-resolver:
 *
 * The proxy resolver used to reach the server, or %NULL for the
 * system's default.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:server:
 *
 * The SMTP server to connect to: a host name, or an IPv4 or IPv6
 * address (the seed's `Server`).  With a TLS security mode it is also the
 * name the server's certificate must match.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:port:
 *
 * The TCP port of the server (the seed's `Port`).  0 means the
 * default: 465 when [property@SmtpClient.Session:security] is
 * %SMTP_CLIENT_SECURITY_TLS, 25 otherwise; reading the property returns the
 * port that will be used.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:timeout:
 *
 * An idle timeout in seconds (the seed's `Timeout`): when one wait
 * (connecting, the TLS handshake, a reply, a write) makes no progress for
 * this long, the delivery fails with %SMTP_CLIENT_ERROR_TIMEOUT and the
 * connection is closed.  0 waits forever.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:my-hostname:
 *
 * The host name announced in `EHLO`/`HELO` (the seed's
 * `MyHostname`).
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:bind-address:
 *
 * The local IP address to connect from (the seed's
 * `BindAddress`), or %NULL to let the system choose.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:bind-port:
 *
 * The local port to connect from (the seed's `BindPort`), or 0 to
 * let the system choose.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:security:
 *
 * How the connection is protected: plain TCP, STARTTLS (required
 * or opportunistic) or implicit TLS.  Whenever TLS is used the server's
 * certificate is verified; see [signal@SmtpClient.Session::accept-certificate].
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:allow-insecure-auth:
 *
 * Whether credentials may be sent over a connection that is not
 * encrypted.  When %FALSE (the default), a delivery with
 * [property@SmtpClient.Session:auth-user] set fails with
 * %SMTP_CLIENT_ERROR_CONFIGURE before anything is sent, unless the
 * connection is encrypted.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:auth-mechanism:
 *
 * The SASL mechanism to authenticate with: `PLAIN`, `LOGIN`,
 * `CRAM-MD5`, `XOAUTH2`, `OAUTHBEARER`, `SCRAM-SHA-1`, `SCRAM-SHA-256`,
 * or `SCRAM-SHA-1-PLUS` and `SCRAM-SHA-256-PLUS` (SCRAM bound to the TLS
 * connection; they need one).  %NULL chooses the strongest one the server
 * offers that fits a password: over TLS a -PLUS mechanism first.  For
 * `XOAUTH2` and `OAUTHBEARER`, name them here.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:auth-user:
 *
 * The user name to authenticate as, or %NULL not to authenticate.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:auth-password:
 *
 * The password for [property@SmtpClient.Session:auth-user]; for
 * `XOAUTH2` and `OAUTHBEARER`, the OAuth 2.0 access token.  It never
 * appears in the transaction log.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:tls-database:
 *
 * The certificate authorities to verify the server's certificate
 * against, or %NULL for the system's.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:tls-certificate:
 *
 * A client certificate (with its private key) to present to the
 * server during the TLS handshake, or %NULL.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:proxy-resolver:
 *
 * The proxy resolver used to reach the server, or %NULL for the
 * system's default.
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:protocol:
 *
 * The protocol: SMTP, or LMTP (RFC 2033) to hand mail to a mailbox server
 * such as Dovecot or Cyrus: `LHLO` instead of `EHLO` (with no `HELO` to
 * fall back to), and after the end of the message one reply per accepted
 * recipient, judged like refusals of `RCPT` (see
 * [property@SmtpClient.Task:allow-refused-recipients]); each
 * recipient's reply is given by
 * [method@SmtpClient.Task.get_recipient_reply_code].  A recipient refused
 * after the end of the message does not stop the delivery to the others.
 * LMTP servers usually listen on a Unix domain socket: set
 * [property@SmtpClient.Task:server] to its absolute path.
 *
 * With a [property@SmtpClient.Task:session], the session's setting is
 * used instead.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:chunking:
 *
 * When the server offers `CHUNKING` (RFC 3030), send the message with
 * `BDAT` instead of `DATA`: in chunks of about 64 KiB, pipelined when the
 * server offers `PIPELINING`, with no dot-stuffing and no waiting for a
 * `354`.  Line ends are still normalised to CRLF (unless
 * [property@SmtpClient.Task:binary-mime] is set).  A chunk the server
 * refuses fails the task with that reply
 * (%SMTP_CLIENT_DELIVERY_STATE_REFUSED).  The transaction log shows each
 * `BDAT` command line (not its chunk) and sums the content up as
 * `[message: N bytes, K BDAT chunks]`.  Set it to %FALSE
 * to always use `DATA` (except for binary MIME, which needs `BDAT`).
 *
 * With a [property@SmtpClient.Task:session], the session's setting is
 * used instead.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:protocol:
 *
 * The protocol of the session's connections: SMTP, or LMTP (see
 * [property@SmtpClient.Task:protocol]).
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:chunking:
 *
 * Whether the session's connections send messages with `BDAT` when the
 * server offers `CHUNKING` (see [property@SmtpClient.Task:chunking]).
 *
 * It applies to every connection of the session; the tasks'
 * own connection settings are ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:max-retries:
 *
 * How many times a delivery is tried again, on a fresh connection, after
 * a transient failure that left the message
 * %SMTP_CLIENT_DELIVERY_STATE_NOT_SENT: the connection was refused, lost or
 * timed out before the end of the message, a `421`, or a 4yz reply to the
 * greeting, `EHLO`, `MAIL`, `DATA` or to every `RCPT`.  A refusal (5yz), a
 * failed authentication, a TLS or certificate error, a bad setting, an
 * %SMTP_CLIENT_DELIVERY_STATE_UNCERTAIN outcome and a cancellation are
 * never tried again.  See [method@SmtpClient.Task.get_attempts].
 *
 * Since: 1.0
 */

/**
 * SmtpClientTask:retry-delay:
 *
 * Milliseconds to wait before the first retry; the wait doubles for each
 * further one, with 20% of random jitter either way.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:max-retries:
 *
 * How many times a task is tried again, on a fresh connection, after a
 * transient failure that left it %SMTP_CLIENT_DELIVERY_STATE_NOT_SENT
 * (see [property@SmtpClient.Task:max-retries]).
 *
 * It applies to every task of the session; the tasks' own setting is
 * ignored.
 *
 * Since: 1.0
 */

/**
 * SmtpClientSession:retry-delay:
 *
 * Milliseconds to wait before the first retry of a task; the wait doubles
 * for each further one, with 20% of random jitter either way.
 *
 * It applies to every task of the session; the tasks' own setting is
 * ignored.
 *
 * Since: 1.0
 */

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

  pspecs[SETTINGS_PROP_MAX_RETRIES] =
    g_param_spec_uint ("max-retries", NULL, NULL, 0, 100, 2, flags);
  pspecs[SETTINGS_PROP_RETRY_DELAY] =
    g_param_spec_uint ("retry-delay", NULL, NULL, 0, 3600 * 1000, 1000, flags);
  pspecs[SETTINGS_PROP_PROTOCOL] =
    g_param_spec_enum ("protocol", NULL, NULL, SMTP_CLIENT_TYPE_PROTOCOL,
                       SMTP_CLIENT_PROTOCOL_SMTP, flags);
  pspecs[SETTINGS_PROP_CHUNKING] =
    g_param_spec_boolean ("chunking", NULL, NULL, TRUE, flags);

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
      if (!replace_string (&settings->server, g_value_get_string (value)))
        return FALSE;
      /* A name found by discovery was the old server's */
      g_clear_pointer (&settings->tls_name, g_free);
      return TRUE;
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
      smtp_client_secret_free (settings->auth_password);
      settings->auth_password = g_value_dup_string (value);
      return TRUE;
    case SETTINGS_PROP_TLS_DATABASE:
      return g_set_object (&settings->tls_database, g_value_get_object (value));
    case SETTINGS_PROP_TLS_CERTIFICATE:
      return g_set_object (&settings->tls_certificate, g_value_get_object (value));
    case SETTINGS_PROP_PROXY_RESOLVER:
      return g_set_object (&settings->proxy_resolver, g_value_get_object (value));
    case SETTINGS_PROP_MAX_RETRIES:
      return replace_uint (&settings->max_retries, g_value_get_uint (value));
    case SETTINGS_PROP_RETRY_DELAY:
      return replace_uint (&settings->retry_delay, g_value_get_uint (value));
    case SETTINGS_PROP_PROTOCOL:
      return replace_uint (&settings->protocol, g_value_get_enum (value));
    case SETTINGS_PROP_CHUNKING:
      return replace_uint ((guint *) &settings->chunking,
                           g_value_get_boolean (value));
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
    case SETTINGS_PROP_MAX_RETRIES:
      g_value_set_uint (value, settings->max_retries);
      break;
    case SETTINGS_PROP_RETRY_DELAY:
      g_value_set_uint (value, settings->retry_delay);
      break;
    case SETTINGS_PROP_PROTOCOL:
      g_value_set_enum (value, settings->protocol);
      break;
    case SETTINGS_PROP_CHUNKING:
      g_value_set_boolean (value, settings->chunking);
      break;
    case N_SETTINGS_PROPS:
    default:
      g_assert_not_reached ();
    }
}
