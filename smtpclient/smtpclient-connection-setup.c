/* smtpclient-connection-setup.c: connect, TLS, greeting, EHLO/HELO,
 * STARTTLS and AUTH
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each step sends its command and queues the reply it expects; the loop
 * hands the reply back to setup_handle_reply(), which judges it by the
 * exact code RFC 5321 gives the command and starts the next step.  A
 * refusal ends the connection with QUIT, a 421 with QUIT and nothing
 * else, anything unexpected by dropping it.
 */

#include "config.h"

#include <gio/gunixsocketaddress.h>

#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "smtpclient-connection-engine-private.h"
#include "smtpclient-private.h"

static void send_ehlo (SmtpClientConnection *self);
static void start_tls (SmtpClientConnection *self);

/* ---------------------------------------------------------------------- */
/* Failing the set-up */

/* A reply that ends the set-up: a refusal (@refusal, transfer full: the
 * error for a 4yz/5yz), a 421, or an unexpected code */
static void
fail_on_reply (SmtpClientConnection *self,
               SmtpClientCommand     command,
               SmtpClientVerdict     verdict,
               SmtpClientReply      *reply,
               GError               *refusal)
{
  switch (verdict)
    {
    case SMTP_CLIENT_VERDICT_REFUSED:
      engine_fail (self, refusal, reply, CLOSE_QUIT);
      return;

    case SMTP_CLIENT_VERDICT_CLOSING:
      g_clear_error (&refusal);
      engine_fail (self, engine_closing_error (reply), reply,
                   CLOSE_QUIT_NOW);
      return;

    case SMTP_CLIENT_VERDICT_SUCCESS:
    case SMTP_CLIENT_VERDICT_CONTINUE:
    case SMTP_CLIENT_VERDICT_UNEXPECTED:
    default:
      g_clear_error (&refusal);
      engine_fail (self, engine_unexpected_error (command, reply), reply,
                   reply->code == 221 ? CLOSE_QUIT_NOW : CLOSE_NOW);
      return;
    }
}

/* ---------------------------------------------------------------------- */
/* Connect */

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GSocketConnection *connection;
  GError *error = NULL;
  GSocket *socket;

  connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (source),
                                               result, &error);
  if (self->phase != PHASE_CONNECTING)
    {
      /* Closed meanwhile */
      g_clear_object (&connection);
      g_clear_error (&error);
      return;
    }

  if (connection == NULL)
    {
      engine_fail (self, error, NULL, CLOSE_NOW);
      engine_run (self);
      return;
    }

  self->socket_connection = connection;
  self->progress = TRUE;
  engine_stage (self, -1);
  socket = g_socket_connection_get_socket (connection);
  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    {
      /* Commands and the end of the content go out at once: no Nagle
       * delay waiting for the server's delayed ACK */
      g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
    }

  engine_note (self, "connected");
  engine_set_streams (self, G_IO_STREAM (connection));
  if (self->phase == PHASE_CLOSED)
    {
      engine_run (self);
      return;
    }

  if (self->settings->security == SMTP_CLIENT_SECURITY_TLS)
    start_tls (self);
  else
    setup_start (self);

  engine_run (self);
}

/* "localhost", or a loopback address literal */
static gboolean
is_loopback (const char *host)
{
  g_autoptr(GInetAddress) address = NULL;

  if (g_ascii_strcasecmp (host, "localhost") == 0 ||
      g_str_has_suffix (host, ".localhost"))
    return TRUE;

  address = g_inet_address_new_from_string (host);
  return address != NULL && g_inet_address_get_is_loopback (address);
}

void
setup_connect (SmtpClientConnection *self)
{
  const SmtpClientSettings *settings = self->settings;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnectable) address = NULL;

  if (settings->bind_address != NULL || settings->bind_port != 0)
    {
      g_autoptr(GSocketAddress) local = NULL;

      local = g_inet_socket_address_new_from_string (settings->bind_address != NULL
                                                     ? settings->bind_address
                                                     : "0.0.0.0",
                                                     settings->bind_port);
      g_socket_client_set_local_address (client, local);
    }

  if (smtp_client_settings_is_unix_socket (settings))
    /* An LMTP server's socket: no proxy, no name to resolve */
    g_socket_client_set_enable_proxy (client, FALSE);
  else if (settings->proxy_resolver != NULL)
    g_socket_client_set_proxy_resolver (client, settings->proxy_resolver);
  else if (is_loopback (settings->server))
    /* Every system proxy configuration bypasses the local host, and asking
     * would load the proxy modules (libproxy, GSettings) into every
     * process that sends to a local MTA: milliseconds and megabytes */
    g_socket_client_set_enable_proxy (client, FALSE);

  if (smtp_client_settings_is_unix_socket (settings))
    address = G_SOCKET_CONNECTABLE (g_unix_socket_address_new (settings->server));
  else if (!g_socket_client_get_enable_proxy (client) &&
           g_hostname_is_ip_address (settings->server))
    /* An address literal needs no resolver (a GNetworkAddress would set
     * up the default GResolver all the same) */
    address = G_SOCKET_CONNECTABLE (g_inet_socket_address_new_from_string (settings->server,
                                                                           smtp_client_settings_get_port (settings)));
  else
    address = g_network_address_new (settings->server,
                                     smtp_client_settings_get_port (settings));
  self->phase = PHASE_CONNECTING;
  self->progress = TRUE;
  engine_stage (self, SMTP_CLIENT_TIMING_CONNECT);
  g_socket_client_connect_async (client, address, self->io_cancellable,
                                 on_connected, g_object_ref (self));
}

/* The connection is there (plain, or TLS from the first byte): wait for
 * the greeting */
void
setup_start (SmtpClientConnection *self)
{
  self->phase = PHASE_SETUP;
  engine_expect (self, SMTP_CLIENT_COMMAND_GREETING, NULL, 0);
}

/* ---------------------------------------------------------------------- */
/* TLS */

static gboolean
on_accept_certificate (GTlsConnection       *connection,
                       GTlsCertificate      *certificate,
                       GTlsCertificateFlags  errors,
                       gpointer              user_data)
{
  SmtpClientConnection *self = user_data;

  /* The handshake may outlive the connection's wait for it (a timeout):
   * then nobody is asked, and what the hooks' data was may be gone */
  if (self->hooks == NULL || self->phase != PHASE_HANDSHAKE)
    return FALSE;

  return self->hooks->accept_certificate (self, self->opener, certificate,
                                          errors, self->hooks_data);
}

static void
on_handshake_done (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(SmtpClientConnection) self = user_data;
  GTlsConnection *tls = G_TLS_CONNECTION (source);
  GError *error = NULL;

  if (!g_tls_connection_handshake_finish (tls, result, &error))
    {
      if (self->phase == PHASE_HANDSHAKE)
        {
          engine_fail (self, error, NULL, CLOSE_NOW);
          engine_run (self);
        }
      else
        g_error_free (error);
      return;
    }

  if (self->phase != PHASE_HANDSHAKE)
    return;

  self->is_encrypted = TRUE;
  self->progress = TRUE;
  engine_stage (self, -1);
  engine_note (self, "TLS handshake done");
  engine_set_streams (self, G_IO_STREAM (tls));
  if (self->phase == PHASE_CLOSED)
    {
      engine_run (self);
      return;
    }

  if (self->tls_started)
    {
      /* After STARTTLS: forget what the server said in plain text, and
       * ask again (RFC 3207 §4.2) */
      self->phase = PHASE_SETUP;
      g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
      self->extensions = 0;
      send_ehlo (self);
    }
  else
    setup_start (self);

  engine_run (self);
}

static void
start_tls (SmtpClientConnection *self)
{
  g_autoptr(GSocketConnectable) identity = NULL;
  g_autoptr(GIOStream) tls = NULL;
  GError *error = NULL;

  engine_stop_reading (self);
  identity = g_network_address_new (self->settings->tls_name != NULL
                                    ? self->settings->tls_name
                                    : self->settings->server,
                                    smtp_client_settings_get_port (self->settings));
  /* What g_tls_client_connection_new() does, with the database given at
   * construction: set afterwards, glib-networking would first have built
   * the connection's credentials from the system's trust store (parsing
   * every CA certificate on the machine, for each connection) only to
   * build them again from ours */
  tls = g_initable_new (g_tls_backend_get_client_connection_type (
                            g_tls_backend_get_default ()),
                        NULL, &error,
                        "base-io-stream", self->socket_connection,
                        "server-identity", identity,
                        /* The list ends here when there is none */
                        self->settings->tls_database != NULL
                          ? "database" : NULL,
                        self->settings->tls_database,
                        NULL);
  if (tls == NULL)
    {
      engine_fail (self, error, NULL, CLOSE_NOW);
      return;
    }

  if (self->settings->tls_certificate != NULL)
    g_tls_connection_set_certificate (G_TLS_CONNECTION (tls),
                                      self->settings->tls_certificate);
  g_signal_connect_object (tls, "accept-certificate",
                           G_CALLBACK (on_accept_certificate), self, 0);

  self->phase = PHASE_HANDSHAKE;
  self->progress = TRUE;
  if (self->stage != SMTP_CLIENT_TIMING_TLS)
    engine_stage (self, SMTP_CLIENT_TIMING_TLS);
  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT,
                                    self->io_cancellable, on_handshake_done,
                                    g_object_ref (self));
}

/* ---------------------------------------------------------------------- */
/* AUTH */

/* The TLS connection's channel binding data, for SCRAM-*-PLUS: RFC 9266's
 * tls-exporter over TLS 1.3, RFC 5929's tls-server-end-point before;
 * NULL without TLS, or when the TLS backend cannot give it */
static GBytes *
get_channel_binding (SmtpClientConnection  *self,
                     const char           **type)
{
  GTlsConnection *tls;
  GTlsChannelBindingType binding;
  GByteArray *data;

  if (!self->is_encrypted || !G_IS_TLS_CONNECTION (self->stream))
    return NULL;

  tls = G_TLS_CONNECTION (self->stream);
  if (g_tls_connection_get_protocol_version (tls) == G_TLS_PROTOCOL_VERSION_TLS_1_3)
    {
      binding = G_TLS_CHANNEL_BINDING_TLS_EXPORTER;
      *type = "tls-exporter";
    }
  else
    {
      binding = G_TLS_CHANNEL_BINDING_TLS_SERVER_END_POINT;
      *type = "tls-server-end-point";
    }

  data = g_byte_array_new ();
  if (!g_tls_connection_get_channel_binding_data (tls, binding, data, NULL) ||
      data->len == 0)
    {
      g_byte_array_unref (data);
      return NULL;
    }

  return g_byte_array_free_to_bytes (data);
}

/* Whether the server offers any -PLUS (channel-binding) mechanism */
static gboolean
offers_plus (const char * const *offered)
{
  for (guint i = 0; offered[i] != NULL; i++)
    if (g_str_has_suffix (offered[i], "-PLUS"))
      return TRUE;
  return FALSE;
}

static void
start_auth (SmtpClientConnection *self)
{
  const SmtpClientSettings *settings = self->settings;
  g_auto(GStrv) offered = NULL;
  const char *mechanism = settings->auth_mechanism;
  g_autofree char *initial = NULL;
  g_autofree char *logged = NULL;
  g_autoptr(GBytes) binding = NULL;
  const char *binding_type = NULL;
  GString *command;
  GError *error = NULL;

  engine_stage (self, SMTP_CLIENT_TIMING_AUTH);
  if (!self->is_encrypted && !settings->allow_insecure_auth)
    {
      engine_fail (self,
                   g_error_new_literal (SMTP_CLIENT_ERROR,
                                        SMTP_CLIENT_ERROR_CONFIGURE,
                                        _("Refusing to send credentials over "
                                          "an unencrypted connection (the "
                                          "server does not offer "
                                          "STARTTLS)")),
                   NULL, CLOSE_QUIT);
      return;
    }

  if (self->capabilities == NULL ||
      !(self->extensions & SMTP_CLIENT_EXTENSION_AUTH))
    {
      engine_fail (self,
                   g_error_new_literal (SMTP_CLIENT_ERROR,
                                        SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                        _("The server does not offer "
                                          "authentication (AUTH)")),
                   NULL, CLOSE_QUIT);
      return;
    }

  offered = smtp_client_capabilities_get_auth_mechanisms (self->capabilities);
  binding = get_channel_binding (self, &binding_type);
  if (mechanism == NULL)
    {
      mechanism = smtp_client_sasl_choose_bound ((const char * const *) offered,
                                                 binding != NULL);
      if (mechanism == NULL)
        {
          g_autofree char *list = g_strjoinv (" ", offered);
          g_autofree char *shown = smtp_client_text_escape (list, -1);

          engine_fail (self,
                       g_error_new (SMTP_CLIENT_ERROR,
                                    SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                    _("None of the server’s authentication "
                                      "mechanisms (%s) can be used with a "
                                      "password"), shown),
                       NULL, CLOSE_QUIT);
          return;
        }
    }
  else if (!g_strv_contains ((const char * const *) offered, mechanism))
    {
      gboolean found = FALSE;

      /* Offered names are upper-cased; the setting may not be */
      for (guint i = 0; offered[i] != NULL; i++)
        if (g_ascii_strcasecmp (offered[i], mechanism) == 0)
          found = TRUE;

      if (!found)
        {
          engine_fail (self,
                       g_error_new (SMTP_CLIENT_ERROR,
                                    SMTP_CLIENT_ERROR_NOT_SUPPORTED,
                                    _("The server does not offer the "
                                      "authentication mechanism %s"),
                                    mechanism),
                       NULL, CLOSE_QUIT);
          return;
        }
    }

  self->sasl = smtp_client_sasl_new (mechanism, settings->auth_user,
                                     settings->auth_password, settings->server,
                                     smtp_client_settings_get_port (settings),
                                     &error);
  if (self->sasl == NULL)
    {
      engine_fail (self, error, NULL, CLOSE_QUIT);
      return;
    }

  /* RFC 5802 §6: a -PLUS mechanism binds; otherwise the binding data only
   * makes SCRAM say "y" (the client could bind, the server offered no
   * -PLUS: a stripped offer is then detected).  A client that sees -PLUS
   * offered and still takes the plain form (the application's choice)
   * says "n": "y" would make a correct server refuse it. */
  if (binding != NULL &&
      (g_str_has_suffix (smtp_client_sasl_get_mechanism (self->sasl), "-PLUS") ||
       !offers_plus ((const char * const *) offered)))
    smtp_client_sasl_set_channel_binding (self->sasl, binding_type, binding);
  else if (g_str_has_suffix (smtp_client_sasl_get_mechanism (self->sasl), "-PLUS"))
    {
      engine_fail (self,
                   g_error_new (SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                                _("%s binds to the TLS connection, and there "
                                  "is no TLS connection (or no channel "
                                  "binding data) to bind to"),
                                smtp_client_sasl_get_mechanism (self->sasl)),
                   NULL, CLOSE_QUIT);
      return;
    }

  /* Built without printf: the initial response is a credential */
  mechanism = smtp_client_sasl_get_mechanism (self->sasl);
  initial = smtp_client_sasl_get_initial_response (self->sasl);
  command = g_string_sized_new (64);
  g_string_append (command, "AUTH ");
  g_string_append (command, mechanism);
  logged = g_strdup (command->str);
  if (initial != NULL)
    {
      g_string_append_c (command, ' ');
      g_string_append (command, initial);
      smtp_client_secret_wipe (initial, strlen (initial));
      g_free (logged);
      logged = g_strconcat ("AUTH ", mechanism, " <redacted>", NULL);
    }

  self->auth_steps = 0;
  engine_send_secret (self, command->str, command->len, logged);
  smtp_client_secret_free_string (command);
  engine_expect (self, SMTP_CLIENT_COMMAND_AUTH, NULL, 0);
}

/* A 334: answer the challenge, or end the exchange */
static void
auth_continue (SmtpClientConnection *self,
               SmtpClientReply      *reply)
{
  const char *challenge = g_ptr_array_index (reply->lines, 0);
  char *response = NULL;
  GError *error = NULL;

  if (++self->auth_steps > SMTP_CLIENT_CONNECTION_MAX_AUTH_STEPS)
    {
      /* A server that never stops asking: cancel (RFC 4954 §4), after
       * which only its final reply may come */
      g_clear_error (&self->auth_error);
      self->auth_error = g_error_new (SMTP_CLIENT_ERROR,
                                      SMTP_CLIENT_ERROR_PROTOCOL,
                                      _("The server asked for more than %u "
                                        "authentication steps"),
                                      (guint) SMTP_CLIENT_CONNECTION_MAX_AUTH_STEPS);
      engine_send (self, NULL, "*", 1, NULL);
      engine_expect (self, SMTP_CLIENT_COMMAND_AUTH_CANCEL, NULL, 0);
      return;
    }

  if (smtp_client_sasl_step (self->sasl, challenge, &response, &error))
    {
      engine_send_secret (self, response, strlen (response), "<redacted>");
      smtp_client_secret_free (response);
      engine_expect (self, SMTP_CLIENT_COMMAND_AUTH, NULL, 0);
      return;
    }

  /* The mechanism found the server wrong (or the server reported an
   * error): answer as the mechanism requires, or cancel with "*"; only a
   * final reply may come, then we fail with what the mechanism found */
  g_clear_error (&self->auth_error);
  self->auth_error = error;
  if (response != NULL)
    {
      engine_send_secret (self, response, strlen (response), "<redacted>");
      smtp_client_secret_free (response);
    }
  else
    engine_send (self, NULL, "*", 1, NULL);
  engine_expect (self, SMTP_CLIENT_COMMAND_AUTH_CANCEL, NULL, 0);
}

static void
handle_auth_reply (SmtpClientConnection *self,
                   const Expect         *expect,
                   SmtpClientReply      *reply)
{
  SmtpClientVerdict verdict = smtp_client_reply_judge (expect->command,
                                                       reply->code);
  GError *error = NULL;

  switch (verdict)
    {
    case SMTP_CLIENT_VERDICT_CONTINUE:
      auth_continue (self, reply);
      return;

    case SMTP_CLIENT_VERDICT_SUCCESS:
      /* A server that says 235 after a step that proved it wrong, or
       * after we cancelled, has not authenticated itself */
      if (self->auth_error != NULL)
        {
          engine_fail (self, g_steal_pointer (&self->auth_error), reply,
                       CLOSE_QUIT);
          return;
        }
      if (!smtp_client_sasl_check_success (self->sasl, &error))
        {
          engine_fail (self, error, reply, CLOSE_QUIT);
          return;
        }
      g_clear_pointer (&self->sasl, smtp_client_sasl_free);
      engine_set_ready (self);
      return;

    case SMTP_CLIENT_VERDICT_REFUSED:
      if (self->auth_error != NULL)
        error = g_steal_pointer (&self->auth_error);
      else
        error = engine_reply_error (SMTP_CLIENT_ERROR_AUTH_FAILED,
                                    _("Authentication failed"), reply);
      fail_on_reply (self, expect->command, verdict, reply, error);
      return;

    case SMTP_CLIENT_VERDICT_CLOSING:
    case SMTP_CLIENT_VERDICT_UNEXPECTED:
    default:
      fail_on_reply (self, expect->command, verdict, reply, NULL);
      return;
    }
}

/* ---------------------------------------------------------------------- */
/* Greeting, EHLO, HELO, STARTTLS */

static void
send_ehlo (SmtpClientConnection *self)
{
  /* LMTP's LHLO is EHLO by another name (RFC 2033 §4.1) */
  const char *verb = self->settings->protocol == SMTP_CLIENT_PROTOCOL_LMTP
                     ? "LHLO " : "EHLO ";
  g_autofree char *command = g_strconcat (verb, self->settings->my_hostname,
                                          NULL);

  engine_send (self, NULL, command, strlen (command), NULL);
  engine_expect (self, SMTP_CLIENT_COMMAND_EHLO, NULL, 0);
}

static void
send_helo (SmtpClientConnection *self)
{
  g_autofree char *command = g_strconcat ("HELO ", self->settings->my_hostname,
                                          NULL);

  engine_send (self, NULL, command, strlen (command), NULL);
  engine_expect (self, SMTP_CLIENT_COMMAND_HELO, NULL, 0);
}

/* EHLO or HELO answered: STARTTLS, AUTH, or ready */
static void
after_hello (SmtpClientConnection *self)
{
  SmtpClientSecurity security = self->settings->security;

  self->extensions = smtp_client_capabilities_get_extensions (self->capabilities);

  if (!self->is_encrypted &&
      (security == SMTP_CLIENT_SECURITY_STARTTLS ||
       security == SMTP_CLIENT_SECURITY_STARTTLS_IF_AVAILABLE))
    {
      if (self->extensions & SMTP_CLIENT_EXTENSION_STARTTLS)
        {
          engine_stage (self, SMTP_CLIENT_TIMING_TLS);
          engine_send (self, NULL, "STARTTLS", 8, NULL);
          engine_expect (self, SMTP_CLIENT_COMMAND_STARTTLS, NULL, 0);
          return;
        }

      if (security == SMTP_CLIENT_SECURITY_STARTTLS)
        {
          engine_fail (self,
                       g_error_new_literal (SMTP_CLIENT_ERROR,
                                            SMTP_CLIENT_ERROR_TLS_UNAVAILABLE,
                                            _("The server does not offer "
                                              "STARTTLS")),
                       NULL, CLOSE_QUIT);
          return;
        }

      engine_note (self, "STARTTLS not offered; going on without encryption");
    }

  if (self->settings->auth_user != NULL)
    {
      start_auth (self);
      return;
    }

  engine_set_ready (self);
}

static void
handle_starttls_reply (SmtpClientConnection *self,
                       const Expect         *expect,
                       SmtpClientReply      *reply)
{
  SmtpClientVerdict verdict = smtp_client_reply_judge (expect->command,
                                                       reply->code);

  if (verdict == SMTP_CLIENT_VERDICT_REFUSED)
    {
      /* Offered but refused: not even STARTTLS_IF_AVAILABLE goes on in
       * plain text after the server said it could do TLS */
      fail_on_reply (self, expect->command, verdict, reply,
                     engine_reply_error (SMTP_CLIENT_ERROR_TLS_UNAVAILABLE,
                                         _("The server refused STARTTLS"),
                                         reply));
      return;
    }

  if (verdict != SMTP_CLIENT_VERDICT_SUCCESS)
    {
      fail_on_reply (self, expect->command, verdict, reply, NULL);
      return;
    }

  /* Anything the server sent after its 220 and before the handshake came
   * in plain text and could have been injected by an attacker
   * (CVE-2011-0411 and its many cousins): drop the connection, send
   * nothing more */
  if (self->in_end > self->in_start)
    {
      engine_fail (self,
                   g_error_new_literal (SMTP_CLIENT_ERROR,
                                        SMTP_CLIENT_ERROR_PROTOCOL,
                                        _("The server sent data after "
                                          "agreeing to STARTTLS, before the "
                                          "TLS handshake (possible command "
                                          "injection)")),
                   reply, CLOSE_NOW);
      return;
    }

  self->tls_started = TRUE;
  start_tls (self);
}

void
setup_handle_reply (SmtpClientConnection *self,
                    const Expect         *expect,
                    SmtpClientReply      *reply)
{
  SmtpClientVerdict verdict = smtp_client_reply_judge (expect->command,
                                                       reply->code);

  switch (expect->command)
    {
    case SMTP_CLIENT_COMMAND_GREETING:
      if (verdict == SMTP_CLIENT_VERDICT_SUCCESS)
        send_ehlo (self);
      else
        fail_on_reply (self, expect->command, verdict, reply,
                       engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                           _("The server refused the "
                                             "connection"), reply));
      return;

    case SMTP_CLIENT_COMMAND_EHLO:
      if (verdict == SMTP_CLIENT_VERDICT_SUCCESS)
        {
          g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
          self->capabilities = smtp_client_capabilities_new_from_ehlo (reply);
          after_hello (self);
        }
      else if ((reply->code == 500 || reply->code == 502) &&
               self->settings->protocol == SMTP_CLIENT_PROTOCOL_SMTP)
        /* Not an ESMTP server: plain SMTP (RFC 5321 §3.2) */
        send_helo (self);
      else
        fail_on_reply (self, expect->command, verdict, reply,
                       engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                           self->settings->protocol == SMTP_CLIENT_PROTOCOL_LMTP
                                           ? _("The server refused LHLO")
                                           : _("The server refused EHLO"),
                                           reply));
      return;

    case SMTP_CLIENT_COMMAND_HELO:
      if (verdict == SMTP_CLIENT_VERDICT_SUCCESS)
        {
          g_clear_pointer (&self->capabilities, smtp_client_capabilities_free);
          after_hello (self);
        }
      else
        fail_on_reply (self, expect->command, verdict, reply,
                       engine_reply_error (SMTP_CLIENT_ERROR_SERVER,
                                           _("The server refused HELO"),
                                           reply));
      return;

    case SMTP_CLIENT_COMMAND_STARTTLS:
      handle_starttls_reply (self, expect, reply);
      return;

    case SMTP_CLIENT_COMMAND_AUTH:
    case SMTP_CLIENT_COMMAND_AUTH_CANCEL:
      handle_auth_reply (self, expect, reply);
      return;

    case SMTP_CLIENT_COMMAND_MAIL:
    case SMTP_CLIENT_COMMAND_RCPT:
    case SMTP_CLIENT_COMMAND_DATA:
    case SMTP_CLIENT_COMMAND_END:
    case SMTP_CLIENT_COMMAND_RSET:
    case SMTP_CLIENT_COMMAND_NOOP:
    case SMTP_CLIENT_COMMAND_QUIT:
    case SMTP_CLIENT_COMMAND_BDAT:
    case SMTP_CLIENT_N_COMMANDS:
    default:
      g_assert_not_reached ();
    }
}
