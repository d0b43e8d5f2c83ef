/* smtpclient-sasl.c: SASL client mechanisms (pure, no sockets): the table,
 * the entry points, PLAIN, LOGIN and CRAM-MD5
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each mechanism is a small state machine driven by smtp_client_sasl_step()
 * with the server's 334 challenges; challenges and responses are base64
 * text, as on the wire (RFC 4954).
 *
 * The mechanisms that speak first (PLAIN, XOAUTH2, OAUTHBEARER, SCRAM) give
 * their first message as the initial response; if the caller does not send
 * it, the server answers "AUTH MECH" with an empty challenge, and the first
 * empty challenge is answered with that same message.
 *
 * Secrets (the password, the salted password, the keys, and every buffer
 * that held them) are overwritten before they are freed.  Copies that GLib
 * makes inside GHmac and GChecksum are out of our reach.  Nothing here
 * logs.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-private.h"
#include "smtpclient-error.h"
#include "smtpclient-sasl-mechanism-private.h"

/* In order of preference for smtp_client_sasl_choose() */
static const struct
{
  const char *name;
  gboolean    uses_password;
} mechanisms[] = {
  [MECHANISM_SCRAM_SHA_256_PLUS] = { "SCRAM-SHA-256-PLUS", TRUE },
  [MECHANISM_SCRAM_SHA_1_PLUS] = { "SCRAM-SHA-1-PLUS", TRUE },
  [MECHANISM_SCRAM_SHA_256] = { "SCRAM-SHA-256", TRUE },
  [MECHANISM_SCRAM_SHA_1] = { "SCRAM-SHA-1", TRUE },
  [MECHANISM_CRAM_MD5] = { "CRAM-MD5", TRUE },
  [MECHANISM_PLAIN] = { "PLAIN", TRUE },
  [MECHANISM_LOGIN] = { "LOGIN", TRUE },
  [MECHANISM_XOAUTH2] = { "XOAUTH2", FALSE },
  [MECHANISM_OAUTHBEARER] = { "OAUTHBEARER", FALSE },
};


/* memset through a volatile pointer: a plain memset right before free()
 * is a dead store the compiler may remove. */
static void *(*const volatile wipe_memset) (void *, int, size_t) = memset;

void
smtp_client_secret_wipe (gpointer data,
                         gsize    length)
{
  if (data != NULL && length > 0)
    wipe_memset (data, 0, length);
}

void
smtp_client_secret_free (char *text)
{
  if (text != NULL)
    {
      smtp_client_secret_wipe (text, strlen (text));
      g_free (text);
    }
}

void
smtp_client_secret_free_string (GString *string)
{
  smtp_client_secret_wipe (string->str, string->allocated_len);
  g_string_free (string, TRUE);
}

static gboolean
lookup_mechanism (const char *name,
                  Mechanism  *mechanism)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (mechanisms); i++)
    {
      if (g_ascii_strcasecmp (name, mechanisms[i].name) == 0)
        {
          *mechanism = (Mechanism) i;
          return TRUE;
        }
    }
  return FALSE;
}

static gboolean
has_control_character (const char *text)
{
  for (; *text != '\0'; text++)
    {
      if ((guchar) *text < 0x20 || *text == 0x7f)
        return TRUE;
    }
  return FALSE;
}

/* RFC 5802 printable, as a nonce must be: %x21-2B / %x2D-7E */
gboolean
sasl_is_printable_no_comma (const char *text,
                            gsize       length)
{
  gsize i;

  for (i = 0; i < length; i++)
    {
      if (text[i] < 0x21 || text[i] > 0x7e || text[i] == ',')
        return FALSE;
    }
  return TRUE;
}

/* Text (usually the server's) made safe to quote in an error message:
 * printable ASCII only, bounded length. */
char *
sasl_quote_text (const char *text,
                 gsize       length)
{
  GString *quoted = g_string_sized_new (MIN (length, MAX_QUOTED_LENGTH) + 3);
  gsize i;

  for (i = 0; i < length && i < MAX_QUOTED_LENGTH; i++)
    {
      char c = text[i];

      g_string_append_c (quoted, (c >= 0x20 && c <= 0x7e) ? c : '?');
    }
  if (length > MAX_QUOTED_LENGTH)
    g_string_append (quoted, "...");

  return g_string_free (quoted, FALSE);
}

/* RFC 5802 saslname (also the authzid of RFC 5801): ',' and '=' escaped */
void
sasl_append_saslname (GString    *out,
                      const char *name)
{
  for (; *name != '\0'; name++)
    {
      if (*name == ',')
        g_string_append (out, "=2C");
      else if (*name == '=')
        g_string_append (out, "=3D");
      else
        g_string_append_c (out, *name);
    }
}

char *
sasl_encode_base64 (const char *data,
                    gsize       length)
{
  if (length == 0)
    return g_strdup ("");
  return g_base64_encode ((const guchar *) data, length);
}

void
sasl_set_malformed_error (GError **error)
{
  g_set_error_literal (error, SMTP_CLIENT_ERROR,
                       SMTP_CLIENT_ERROR_AUTH_FAILED,
                       _("The server sent a malformed authentication "
                         "challenge"));
}

void
sasl_set_unexpected_error (GError **error)
{
  g_set_error_literal (error, SMTP_CLIENT_ERROR,
                       SMTP_CLIENT_ERROR_AUTH_FAILED,
                       _("The server sent an unexpected authentication "
                         "challenge"));
}

/* Strict base64 (RFC 4648 §4 alphabet, padded) of @challenge, surrounding
 * blanks ignored, decoded and NUL-terminated.  NULL if malformed. */
guint8 *
sasl_decode_challenge (const char *challenge,
                       gsize      *length)
{
  const char *start = challenge;
  const char *end = challenge + strlen (challenge);
  gsize n;
  gsize i;
  gsize padding = 0;
  gint state = 0;
  guint save = 0;
  guint8 *decoded;

  while (start < end && g_ascii_isspace (*start))
    start++;
  while (end > start && g_ascii_isspace (end[-1]))
    end--;
  n = (gsize) (end - start);

  if (n % 4 != 0)
    return NULL;
  for (i = 0; i < n; i++)
    {
      char c = start[i];

      if (c == '=')
        {
          if (i + 2 < n)
            return NULL;
          padding++;
        }
      else if (padding > 0
               || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
        {
          return NULL;
        }
    }

  decoded = g_malloc (n / 4 * 3 + 1);
  *length = g_base64_decode_step (start, n, decoded, &state, &save);
  decoded[*length] = '\0';

  return decoded;
}

/* The challenge decoded as text: no NUL inside */
char *
sasl_decode_challenge_text (const char *challenge,
                            gsize      *length,
                            GError    **error)
{
  guint8 *decoded = sasl_decode_challenge (challenge, length);

  if (decoded == NULL || memchr (decoded, '\0', *length) != NULL)
    {
      g_free (decoded);
      sasl_set_malformed_error (error);
      return NULL;
    }
  return (char *) decoded;
}

gboolean
sasl_is_empty_challenge (const char *challenge)
{
  for (; *challenge != '\0'; challenge++)
    {
      if (!g_ascii_isspace (*challenge))
        return FALSE;
    }
  return TRUE;
}

gboolean
smtp_client_sasl_is_supported (const char *mechanism)
{
  Mechanism unused;

  g_return_val_if_fail (mechanism != NULL, FALSE);

  return lookup_mechanism (mechanism, &unused);
}

const char *
smtp_client_sasl_choose (const char *const *offered)
{
  return smtp_client_sasl_choose_bound (offered, FALSE);
}

const char *
smtp_client_sasl_choose_bound (const char *const *offered,
                               gboolean           can_bind)
{
  gsize i;

  if (offered == NULL)
    return NULL;

  for (i = 0; i < G_N_ELEMENTS (mechanisms); i++)
    {
      gsize j;

      if (!mechanisms[i].uses_password ||
          (sasl_is_scram_plus ((Mechanism) i) && !can_bind))
        continue;

      for (j = 0; offered[j] != NULL; j++)
        {
          if (g_ascii_strcasecmp (offered[j], mechanisms[i].name) == 0)
            return mechanisms[i].name;
        }
    }
  return NULL;
}

SmtpClientSasl *
smtp_client_sasl_new (const char  *mechanism,
                      const char  *user,
                      const char  *password,
                      const char  *host,
                      guint        port,
                      GError     **error)
{
  SmtpClientSasl *sasl;
  Mechanism id;

  g_return_val_if_fail (mechanism != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);
  g_return_val_if_fail (password != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  smtp_client_init_i18n ();

  if (!lookup_mechanism (mechanism, &id))
    {
      g_autofree char *quoted = sasl_quote_text (mechanism, strlen (mechanism));

      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                   _("Unsupported authentication mechanism “%s”"), quoted);
      return NULL;
    }

  if (!g_utf8_validate (user, -1, NULL)
      || !g_utf8_validate (password, -1, NULL))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_CONFIGURE,
                           _("The user name and the password must be "
                             "valid UTF-8"));
      return NULL;
    }

  if (*user == '\0' || *password == '\0')
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_CONFIGURE,
                           _("The user name and the password must not be "
                             "empty"));
      return NULL;
    }

  /* The OAuth mechanisms separate their fields with control characters */
  if (!mechanisms[id].uses_password
      && (has_control_character (user) || has_control_character (password)
          || (host != NULL && has_control_character (host))))
    {
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE,
                   _("The user name, the access token and the host name "
                     "cannot contain control characters for %s"),
                   mechanisms[id].name);
      return NULL;
    }

  sasl = g_new0 (SmtpClientSasl, 1);
  sasl->mechanism = id;
  sasl->user = g_strdup (user);
  sasl->password = g_strdup (password);
  sasl->host = g_strdup (host);
  sasl->port = port;

  return sasl;
}

void
smtp_client_sasl_free (SmtpClientSasl *sasl)
{
  if (sasl == NULL)
    return;

  smtp_client_secret_free (sasl->user);
  smtp_client_secret_free (sasl->password);
  g_free (sasl->host);
  smtp_client_secret_free (sasl->nonce);
  smtp_client_secret_free (sasl->client_first_bare);
  g_free (sasl->binding_type);
  g_clear_pointer (&sasl->binding_data, g_bytes_unref);
  smtp_client_secret_wipe (sasl, sizeof *sasl);
  g_free (sasl);
}

void
smtp_client_sasl_set_channel_binding (SmtpClientSasl *sasl,
                                      const char     *type,
                                      GBytes         *data)
{
  g_return_if_fail (sasl != NULL);
  g_return_if_fail (type != NULL && data != NULL);

  g_free (sasl->binding_type);
  sasl->binding_type = g_strdup (type);
  g_clear_pointer (&sasl->binding_data, g_bytes_unref);
  sasl->binding_data = g_bytes_ref (data);
}

const char *
smtp_client_sasl_get_mechanism (SmtpClientSasl *sasl)
{
  g_return_val_if_fail (sasl != NULL, NULL);

  return mechanisms[sasl->mechanism].name;
}

void
smtp_client_sasl_set_nonce (SmtpClientSasl *sasl,
                            const char     *nonce)
{
  g_return_if_fail (sasl != NULL);
  g_return_if_fail (nonce != NULL && *nonce != '\0');
  g_return_if_fail (sasl_is_printable_no_comma (nonce, strlen (nonce)));
  g_return_if_fail (sasl->client_first_bare == NULL);

  g_free (sasl->nonce);
  sasl->nonce = g_strdup (nonce);
}

/* --- PLAIN --- */

static char *
sasl_plain_initial_response (SmtpClientSasl *sasl)
{
  /* RFC 4616: authzid (empty) NUL authcid NUL passwd */
  GString *message = g_string_new (NULL);
  char *response;

  g_string_append_c (message, '\0');
  g_string_append (message, sasl->user);
  g_string_append_c (message, '\0');
  g_string_append (message, sasl->password);

  response = sasl_encode_base64 (message->str, message->len);
  smtp_client_secret_free_string (message);
  return response;
}

/* --- LOGIN --- */

static gboolean
sasl_login_step (SmtpClientSasl  *sasl,
                 const char      *challenge,
                 char           **response,
                 GError         **error)
{
  /* The prompts ("Username:", "Password:") vary between servers and are
   * not standardised: answer by position. */
  const char *answer;

  if (sasl->n_challenges == 0)
    answer = sasl->user;
  else if (sasl->n_challenges == 1)
    answer = sasl->password;
  else
    {
      sasl_set_unexpected_error (error);
      return FALSE;
    }

  *response = sasl_encode_base64 (answer, strlen (answer));
  return TRUE;
}

/* --- CRAM-MD5 (RFC 2195) --- */

static gboolean
sasl_cram_md5_step (SmtpClientSasl  *sasl,
                    const char      *challenge,
                    char           **response,
                    GError         **error)
{
  g_autofree guint8 *decoded = NULL;
  g_autofree char *digest = NULL;
  GHmac *hmac;
  gsize length = 0;
  GString *message;

  if (sasl->n_challenges > 0)
    {
      sasl_set_unexpected_error (error);
      return FALSE;
    }

  decoded = sasl_decode_challenge (challenge, &length);
  if (decoded == NULL || length == 0)
    {
      sasl_set_malformed_error (error);
      return FALSE;
    }

  hmac = g_hmac_new (G_CHECKSUM_MD5, (const guchar *) sasl->password,
                     strlen (sasl->password));
  g_hmac_update (hmac, decoded, (gssize) length);
  digest = g_strdup (g_hmac_get_string (hmac));   /* lower-case hex */
  g_hmac_unref (hmac);

  message = g_string_new (sasl->user);
  g_string_append_c (message, ' ');
  g_string_append (message, digest);
  *response = sasl_encode_base64 (message->str, message->len);
  smtp_client_secret_free_string (message);

  return TRUE;
}

/* --- The mechanism-independent entry points --- */

char *
smtp_client_sasl_get_initial_response (SmtpClientSasl *sasl)
{
  g_return_val_if_fail (sasl != NULL, NULL);

  switch (sasl->mechanism)
    {
    case MECHANISM_PLAIN:
      return sasl_plain_initial_response (sasl);
    case MECHANISM_XOAUTH2:
      return sasl_xoauth2_initial_response (sasl);
    case MECHANISM_OAUTHBEARER:
      return sasl_oauthbearer_initial_response (sasl);
    case MECHANISM_SCRAM_SHA_1:
    case MECHANISM_SCRAM_SHA_256:
    case MECHANISM_SCRAM_SHA_1_PLUS:
    case MECHANISM_SCRAM_SHA_256_PLUS:
      return sasl_scram_client_first (sasl);
    case MECHANISM_LOGIN:
    case MECHANISM_CRAM_MD5:
      break;
    }
  return NULL;
}

/* Once a step has failed, the exchange is over */
static gboolean
sasl_check_not_failed (SmtpClientSasl  *sasl,
                       GError         **error)
{
  if (!sasl->failed)
    return TRUE;

  g_set_error_literal (error, SMTP_CLIENT_ERROR,
                       SMTP_CLIENT_ERROR_AUTH_FAILED,
                       _("The authentication exchange has already failed"));
  return FALSE;
}

gboolean
smtp_client_sasl_step (SmtpClientSasl  *sasl,
                       const char      *challenge,
                       char           **response,
                       GError         **error)
{
  gboolean ok = FALSE;

  g_return_val_if_fail (sasl != NULL, FALSE);
  g_return_val_if_fail (challenge != NULL, FALSE);
  g_return_val_if_fail (response != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  *response = NULL;

  if (!sasl_check_not_failed (sasl, error))
    return FALSE;

  /* "AUTH MECH" sent without the initial response: the server asks for
   * it with an empty challenge. */
  if (sasl->n_challenges == 0 && sasl_is_empty_challenge (challenge)
      && !sasl->awaiting_final)
    {
      *response = smtp_client_sasl_get_initial_response (sasl);
      if (*response != NULL)
        {
          sasl->n_challenges++;
          return TRUE;
        }
    }

  switch (sasl->mechanism)
    {
    case MECHANISM_PLAIN:
      sasl_set_unexpected_error (error);
      ok = FALSE;
      break;
    case MECHANISM_LOGIN:
      ok = sasl_login_step (sasl, challenge, response, error);
      break;
    case MECHANISM_CRAM_MD5:
      ok = sasl_cram_md5_step (sasl, challenge, response, error);
      break;
    case MECHANISM_XOAUTH2:
    case MECHANISM_OAUTHBEARER:
      ok = sasl_oauth_step (sasl, challenge, response, error);
      break;
    case MECHANISM_SCRAM_SHA_1:
    case MECHANISM_SCRAM_SHA_256:
    case MECHANISM_SCRAM_SHA_1_PLUS:
    case MECHANISM_SCRAM_SHA_256_PLUS:
      ok = sasl_scram_step (sasl, challenge, response, error);
      break;
    }

  if (ok)
    sasl->n_challenges++;
  else
    sasl->failed = TRUE;

  return ok;
}

gboolean
smtp_client_sasl_check_success (SmtpClientSasl  *sasl,
                                GError         **error)
{
  g_return_val_if_fail (sasl != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!sasl_check_not_failed (sasl, error))
    return FALSE;

  if (sasl_is_scram (sasl->mechanism) && !sasl->server_verified)
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server accepted the authentication "
                             "without proving that it knows the password: "
                             "it may be an impostor"));
      return FALSE;
    }

  return TRUE;
}
