/* smtpclient-sasl-scram.c: SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802,
 * RFC 7677)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The password is used as its UTF-8 bytes: SASLprep (RFC 4013) is not
 * applied, so only passwords that SASLprep leaves as they are (for example
 * printable ASCII) are guaranteed to authenticate against every server.
 * The client nonce comes from g_random.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-private.h"
#include "smtpclient-error.h"
#include "smtpclient-sasl-mechanism-private.h"

gboolean
sasl_is_scram (Mechanism mechanism)
{
  return mechanism == MECHANISM_SCRAM_SHA_1
         || mechanism == MECHANISM_SCRAM_SHA_256
         || sasl_is_scram_plus (mechanism);
}

gboolean
sasl_is_scram_plus (Mechanism mechanism)
{
  return mechanism == MECHANISM_SCRAM_SHA_1_PLUS
         || mechanism == MECHANISM_SCRAM_SHA_256_PLUS;
}

/* The GS2 header (RFC 5802 §7): "p=<type>,," for a -PLUS mechanism, bound
 * to the TLS connection; "y,," when the client could bind but the server
 * offered no -PLUS mechanism (a downgrade the server can then detect:
 * the connection gives the binding data only then); "n,," otherwise */
static char *
scram_gs2_header (SmtpClientSasl *sasl)
{
  if (sasl_is_scram_plus (sasl->mechanism))
    return g_strconcat ("p=", sasl->binding_type, ",,", NULL);
  if (sasl->binding_data != NULL)
    return g_strdup ("y,,");
  return g_strdup ("n,,");
}

static GChecksumType
scram_checksum_type (SmtpClientSasl *sasl)
{
  return sasl->mechanism == MECHANISM_SCRAM_SHA_1 ||
         sasl->mechanism == MECHANISM_SCRAM_SHA_1_PLUS ? G_CHECKSUM_SHA1
                                                       : G_CHECKSUM_SHA256;
}

static gsize
scram_digest_length (SmtpClientSasl *sasl)
{
  return scram_checksum_type (sasl) == G_CHECKSUM_SHA1 ? 20 : 32;
}

static void
hmac_digest (GChecksumType  type,
             const guint8  *key,
             gsize          key_length,
             const guint8  *data,
             gsize          data_length,
             guint8        *digest,
             gsize          digest_length)
{
  GHmac *hmac = g_hmac_new (type, key, key_length);
  gsize length = digest_length;

  g_hmac_update (hmac, data, (gssize) data_length);
  g_hmac_get_digest (hmac, digest, &length);
  g_hmac_unref (hmac);
}

/* RFC 5802 Hi(): PBKDF2 (RFC 8018) with HMAC as the PRF and one block of
 * output, which is all SCRAM needs. */
static void
scram_hi (GChecksumType  type,
          const char    *password,
          const guint8  *salt,
          gsize          salt_length,
          guint          iterations,
          guint8        *result,
          gsize          digest_length)
{
  static const guint8 first_block[4] = { 0, 0, 0, 1 };
  GHmac *keyed = g_hmac_new (type, (const guchar *) password,
                             strlen (password));
  guint8 u[MAX_DIGEST_LENGTH];
  GHmac *hmac;
  gsize length;
  guint i;
  gsize k;

  /* U1 = HMAC (password, salt || INT (1)) */
  hmac = g_hmac_copy (keyed);
  g_hmac_update (hmac, salt, (gssize) salt_length);
  g_hmac_update (hmac, first_block, sizeof first_block);
  length = digest_length;
  g_hmac_get_digest (hmac, u, &length);
  g_hmac_unref (hmac);
  memcpy (result, u, digest_length);

  /* Ui = HMAC (password, Ui-1); result = U1 ^ U2 ^ ... ^ Ui */
  for (i = 1; i < iterations; i++)
    {
      hmac = g_hmac_copy (keyed);
      g_hmac_update (hmac, u, (gssize) digest_length);
      length = digest_length;
      g_hmac_get_digest (hmac, u, &length);
      g_hmac_unref (hmac);
      for (k = 0; k < digest_length; k++)
        result[k] ^= u[k];
    }

  g_hmac_unref (keyed);
  smtp_client_secret_wipe (u, sizeof u);
}

static gboolean
constant_time_equal (const guint8 *a,
                     const guint8 *b,
                     gsize         length)
{
  guint8 difference = 0;
  gsize i;

  for (i = 0; i < length; i++)
    difference |= a[i] ^ b[i];
  return difference == 0;
}

/* The client-first-message, the GS2 header and client-first-bare (this
 * one created on first use) */
char *
sasl_scram_client_first (SmtpClientSasl *sasl)
{
  g_autofree char *message = NULL;
  g_autofree char *gs2 = NULL;

  if (sasl->client_first_bare == NULL)
    {
      GString *bare = g_string_new ("n=");

      if (sasl->nonce == NULL)
        {
          guint8 random[SCRAM_NONCE_BYTES];
          gsize i;

          for (i = 0; i < sizeof random; i++)
            random[i] = (guint8) g_random_int_range (0, 256);
          sasl->nonce = g_base64_encode (random, sizeof random);
          smtp_client_secret_wipe (random, sizeof random);
        }

      sasl_append_saslname (bare, sasl->user);
      g_string_append (bare, ",r=");
      g_string_append (bare, sasl->nonce);
      sasl->client_first_bare = g_string_free (bare, FALSE);
    }

  gs2 = scram_gs2_header (sasl);
  message = g_strconcat (gs2, sasl->client_first_bare, NULL);
  return sasl_encode_base64 (message, strlen (message));
}

/* Match "@name=value" at *@p up to ',' or the end, and move past it */
static gboolean
scram_attribute (const char **p,
                 char         name,
                 const char **value,
                 gsize       *value_length)
{
  const char *start = *p;
  const char *comma;

  if (start[0] != name || start[1] != '=')
    return FALSE;

  *value = start + 2;
  comma = strchr (*value, ',');
  *value_length = comma != NULL ? (gsize) (comma - *value) : strlen (*value);
  *p = comma != NULL ? comma + 1 : *value + *value_length;
  return TRUE;
}

static gboolean
scram_server_error (const char  *message,
                    GError     **error)
{
  const char *p = message;
  const char *value;
  gsize length;
  g_autofree char *quoted = NULL;

  if (!scram_attribute (&p, 'e', &value, &length))
    return FALSE;

  quoted = sasl_quote_text (value, length);
  g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED,
               _("The server refused the authentication: %s"), quoted);
  return TRUE;
}

static gboolean
scram_parse_iterations (const char *text,
                        gsize       length,
                        guint      *iterations)
{
  guint64 value = 0;
  gsize i;

  if (length == 0 || length > 10)
    return FALSE;
  for (i = 0; i < length; i++)
    {
      if (!g_ascii_isdigit (text[i]))
        return FALSE;
      value = value * 10 + (guint64) (text[i] - '0');
    }
  if (value > G_MAXUINT)
    value = G_MAXUINT;
  *iterations = (guint) value;
  return TRUE;
}

/* server-first-message → client-final-message */
static gboolean
scram_step_server_first (SmtpClientSasl  *sasl,
                         const char      *challenge,
                         char           **response,
                         GError         **error)
{
  GChecksumType type = scram_checksum_type (sasl);
  gsize digest_length = scram_digest_length (sasl);
  g_autofree char *server_first = NULL;
  g_autofree guint8 *salt = NULL;
  g_autofree char *salt_base64 = NULL;
  g_autofree char *proof_base64 = NULL;
  char *auth_message;
  GString *client_final;
  const char *p;
  const char *nonce;
  const char *value;
  gsize nonce_length;
  gsize value_length;
  gsize salt_length = 0;
  gsize length;
  guint iterations = 0;
  guint8 salted_password[MAX_DIGEST_LENGTH];
  guint8 client_key[MAX_DIGEST_LENGTH];
  guint8 stored_key[MAX_DIGEST_LENGTH];
  guint8 client_signature[MAX_DIGEST_LENGTH];
  guint8 server_key[MAX_DIGEST_LENGTH];
  GChecksum *checksum;
  gsize k;

  server_first = sasl_decode_challenge_text (challenge, &length, error);
  if (server_first == NULL)
    return FALSE;

  if (scram_server_error (server_first, error))
    return FALSE;

  p = server_first;
  if (p[0] == 'm' && p[1] == '=')
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server requires a SCRAM extension that is "
                             "not supported"));
      return FALSE;
    }

  if (!scram_attribute (&p, 'r', &nonce, &nonce_length)
      || !scram_attribute (&p, 's', &value, &value_length))
    {
      sasl_set_malformed_error (error);
      return FALSE;
    }

  /* The combined nonce: ours, then the server's part (RFC 5802 §5.1) */
  if (nonce_length <= strlen (sasl->nonce)
      || strncmp (nonce, sasl->nonce, strlen (sasl->nonce)) != 0
      || !sasl_is_printable_no_comma (nonce, nonce_length))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server’s SCRAM nonce does not extend the "
                             "client’s: the server may be an impostor"));
      return FALSE;
    }

  salt_base64 = g_strndup (value, value_length);
  salt = sasl_decode_challenge (salt_base64, &salt_length);
  if (salt == NULL || salt_length == 0
      || !scram_attribute (&p, 'i', &value, &value_length)
      || !scram_parse_iterations (value, value_length, &iterations))
    {
      sasl_set_malformed_error (error);
      return FALSE;
    }

  if (iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS)
    {
      g_set_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED,
                   _("The server asked for a SCRAM iteration count of %u, "
                     "outside the accepted range %u to %u"),
                   iterations, SCRAM_MIN_ITERATIONS, SCRAM_MAX_ITERATIONS);
      return FALSE;
    }

  /* client-final-message-without-proof: "c=" is the base64 of the GS2
   * header, followed for -PLUS by the connection's channel binding data
   * (so a man in the middle, with its own TLS connection to the server,
   * cannot relay the exchange) */
  {
    g_autofree char *gs2 = scram_gs2_header (sasl);
    GByteArray *binding = g_byte_array_new ();
    g_autofree char *encoded = NULL;

    g_byte_array_append (binding, (const guint8 *) gs2, strlen (gs2));
    if (sasl_is_scram_plus (sasl->mechanism))
      {
        gsize size = 0;
        const guint8 *data = g_bytes_get_data (sasl->binding_data, &size);

        g_byte_array_append (binding, data, size);
      }
    encoded = g_base64_encode (binding->data, binding->len);
    g_byte_array_unref (binding);
    client_final = g_string_new ("c=");
    g_string_append (client_final, encoded);
    g_string_append (client_final, ",r=");
  }
  g_string_append_len (client_final, nonce, (gssize) nonce_length);

  auth_message = g_strconcat (sasl->client_first_bare, ",", server_first,
                              ",", client_final->str, NULL);

  /* SaltedPassword  := Hi (Normalize (password), salt, i)
   * ClientKey       := HMAC (SaltedPassword, "Client Key")
   * StoredKey       := H (ClientKey)
   * ClientSignature := HMAC (StoredKey, AuthMessage)
   * ClientProof     := ClientKey XOR ClientSignature
   * ServerKey       := HMAC (SaltedPassword, "Server Key")
   * ServerSignature := HMAC (ServerKey, AuthMessage) */
  scram_hi (type, sasl->password, salt, salt_length, iterations,
            salted_password, digest_length);
  hmac_digest (type, salted_password, digest_length,
               (const guint8 *) "Client Key", 10, client_key, digest_length);

  checksum = g_checksum_new (type);
  g_checksum_update (checksum, client_key, (gssize) digest_length);
  length = digest_length;
  g_checksum_get_digest (checksum, stored_key, &length);
  g_checksum_free (checksum);

  hmac_digest (type, stored_key, digest_length,
               (const guint8 *) auth_message, strlen (auth_message),
               client_signature, digest_length);
  for (k = 0; k < digest_length; k++)
    client_signature[k] ^= client_key[k];   /* now the ClientProof */

  hmac_digest (type, salted_password, digest_length,
               (const guint8 *) "Server Key", 10, server_key, digest_length);
  hmac_digest (type, server_key, digest_length,
               (const guint8 *) auth_message, strlen (auth_message),
               sasl->server_signature, digest_length);

  proof_base64 = g_base64_encode (client_signature, digest_length);
  g_string_append (client_final, ",p=");
  g_string_append (client_final, proof_base64);
  *response = sasl_encode_base64 (client_final->str, client_final->len);

  smtp_client_secret_wipe (salted_password, sizeof salted_password);
  smtp_client_secret_wipe (client_key, sizeof client_key);
  smtp_client_secret_wipe (stored_key, sizeof stored_key);
  smtp_client_secret_wipe (client_signature, sizeof client_signature);
  smtp_client_secret_wipe (server_key, sizeof server_key);
  smtp_client_secret_wipe (proof_base64, strlen (proof_base64));
  smtp_client_secret_free (auth_message);
  smtp_client_secret_free_string (client_final);

  sasl->awaiting_final = TRUE;
  return TRUE;
}

/* server-final-message: check the ServerSignature */
static gboolean
scram_step_server_final (SmtpClientSasl  *sasl,
                         const char      *challenge,
                         char           **response,
                         GError         **error)
{
  gsize digest_length = scram_digest_length (sasl);
  g_autofree char *server_final = NULL;
  g_autofree char *signature_base64 = NULL;
  g_autofree guint8 *signature = NULL;
  const char *p;
  const char *value;
  gsize value_length;
  gsize length;

  server_final = sasl_decode_challenge_text (challenge, &length, error);
  if (server_final == NULL)
    return FALSE;

  if (scram_server_error (server_final, error))
    return FALSE;

  p = server_final;
  if (!scram_attribute (&p, 'v', &value, &value_length))
    {
      sasl_set_malformed_error (error);
      return FALSE;
    }

  signature_base64 = g_strndup (value, value_length);
  signature = sasl_decode_challenge (signature_base64, &length);
  if (signature == NULL || length != digest_length
      || !constant_time_equal (signature, sasl->server_signature,
                               digest_length))
    {
      g_set_error_literal (error, SMTP_CLIENT_ERROR,
                           SMTP_CLIENT_ERROR_AUTH_FAILED,
                           _("The server’s SCRAM signature is wrong: the "
                             "server may be an impostor"));
      return FALSE;
    }

  sasl->server_verified = TRUE;
  *response = g_strdup ("");
  return TRUE;
}

gboolean
sasl_scram_step (SmtpClientSasl  *sasl,
                 const char      *challenge,
                 char           **response,
                 GError         **error)
{
  if (sasl->server_verified)
    {
      sasl_set_unexpected_error (error);
      return FALSE;
    }
  if (sasl->awaiting_final)
    return scram_step_server_final (sasl, challenge, response, error);
  if (sasl->client_first_bare == NULL)
    {
      /* The client-first-message must come before any server data */
      sasl_set_unexpected_error (error);
      return FALSE;
    }
  return scram_step_server_first (sasl, challenge, response, error);
}

