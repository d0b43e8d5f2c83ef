/* smtpclient-test-scram.c: the scripted server's SCRAM directive, the
 * server side of SCRAM-SHA-1(-PLUS) and SCRAM-SHA-256(-PLUS), computed
 * here from RFC 5802 (and RFC 7677, RFC 5929, RFC 9266) independently of
 * the library's client side
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   SCRAM <SHA-1|SHA-256> <user> <password> [PLUS] [WRONG-BINDING] [N]
 *
 * reads the client's "AUTH SCRAM-<digest>[-PLUS] [initial response]"
 * (answering one without an initial response with "334 "), checks the GS2
 * header, the user and the proof, and answers as a server does: 334 with
 * the server's signature, then 235 — or 535 to a wrong password or a
 * channel binding that is not its own.
 *
 * The GS2 header it expects: with PLUS, "p=<type>,," where <type> is the
 * binding the TLS version calls for (tls-exporter over TLS 1.3,
 * tls-server-end-point before), and the "c=" attribute must carry the
 * binding data GIO gives this, the server's, end of the connection;
 * without PLUS, "y,," over TLS (the client could bind but this server
 * offers no -PLUS mechanism) and "n,," over plain TCP — or with N, "n,,"
 * over TLS too (this server offers -PLUS, the client chose not to bind:
 * "y" would be a downgrade it must refuse, RFC 5802 §6).  WRONG-BINDING
 * makes the server bind to other data (as the far end of a
 * man-in-the-middle would): authentication must fail.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-server-private.h"

#define SCRAM_ITERATIONS 4096

typedef struct
{
  GChecksumType  type;
  gsize          length;
} Digest;

static GBytes *
hmac (const Digest *digest,
      const guint8 *key,
      gsize         key_length,
      const guint8 *data,
      gsize         data_length)
{
  g_autoptr(GHmac) h = g_hmac_new (digest->type, key, key_length);
  guint8 out[64];
  gsize length = sizeof out;

  g_hmac_update (h, data, (gssize) data_length);
  g_hmac_get_digest (h, out, &length);
  return g_bytes_new (out, length);
}

static GBytes *
hash (const Digest *digest,
      GBytes       *data)
{
  g_autoptr(GChecksum) c = g_checksum_new (digest->type);
  guint8 out[64];
  gsize length = sizeof out;

  g_checksum_update (c, g_bytes_get_data (data, NULL),
                     (gssize) g_bytes_get_size (data));
  g_checksum_get_digest (c, out, &length);
  return g_bytes_new (out, length);
}

/* Hi() of RFC 5802 §2.2: PBKDF2 with HMAC, one block */
static GBytes *
salted_password (const Digest *digest,
                 const char   *password,
                 const guint8 *salt,
                 gsize         salt_length)
{
  g_autoptr(GByteArray) first = g_byte_array_new ();
  static const guint8 one[4] = { 0, 0, 0, 1 };
  guint8 result[64];
  g_autoptr(GBytes) u = NULL;

  g_byte_array_append (first, salt, (guint) salt_length);
  g_byte_array_append (first, one, 4);
  u = hmac (digest, (const guint8 *) password, strlen (password),
            first->data, first->len);
  memcpy (result, g_bytes_get_data (u, NULL), digest->length);

  for (guint i = 1; i < SCRAM_ITERATIONS; i++)
    {
      GBytes *next = hmac (digest, (const guint8 *) password, strlen (password),
                           g_bytes_get_data (u, NULL), digest->length);
      const guint8 *n = g_bytes_get_data (next, NULL);

      for (gsize k = 0; k < digest->length; k++)
        result[k] ^= n[k];
      g_bytes_unref (u);
      u = next;
    }

  return g_bytes_new (result, digest->length);
}

/* The value of attribute @name ("r", "c", "p", ...) in a SCRAM message */
static char *
attribute (const char *message,
           char        name)
{
  g_auto(GStrv) parts = g_strsplit (message, ",", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == name && parts[i][1] == '=')
      return g_strdup (parts[i] + 2);
  return NULL;
}

static char *
decode (const char *base64,
        gsize      *length)
{
  gsize n = 0;
  guchar *data = g_base64_decode (base64, &n);
  char *text = g_malloc (n + 1);

  memcpy (text, data, n);
  text[n] = '\0';
  g_free (data);
  if (length != NULL)
    *length = n;
  return text;
}

/* The binding the server expects, as its end of the TLS connection gives
 * it: "p=<type>,," + data, into @cbind; FALSE when GIO has none */
static gboolean
server_binding (Peer       *peer,
                gboolean    wrong,
                char      **type_name,
                GByteArray *data)
{
  GTlsConnection *tls = G_TLS_CONNECTION (peer->stream);
  gboolean tls13 = g_tls_connection_get_protocol_version (tls) ==
                   G_TLS_PROTOCOL_VERSION_TLS_1_3;
  GTlsChannelBindingType type = tls13 ? G_TLS_CHANNEL_BINDING_TLS_EXPORTER
                                      : G_TLS_CHANNEL_BINDING_TLS_SERVER_END_POINT;
  g_autoptr(GError) error = NULL;

  *type_name = g_strdup (tls13 ? "tls-exporter" : "tls-server-end-point");
  if (!g_tls_connection_get_channel_binding_data (tls, type, data, &error))
    {
      peer_fail (peer, 0, "no %s binding on the server: %s", *type_name,
                 error->message);
      return FALSE;
    }
  if (wrong && data->len > 0)
    data->data[0] ^= 0x5a;
  return TRUE;
}

gboolean
scram_serve (Peer       *peer,
             const char *arguments,
             guint       line)
{
  g_auto(GStrv) args = g_strsplit (arguments, " ", -1);
  guint n_args = g_strv_length (args);
  gboolean plus = g_strv_contains ((const char *const *) args, "PLUS");
  gboolean wrong = g_strv_contains ((const char *const *) args, "WRONG-BINDING");
  gboolean no_binding = g_strv_contains ((const char *const *) args, "N");
  Digest digest;
  g_autofree char *mechanism = NULL;
  g_autofree char *command = NULL;
  g_autofree char *initial = NULL;
  g_autofree char *client_first = NULL;
  g_autofree char *expected_gs2 = NULL;
  g_autofree char *binding_type = NULL;
  g_autoptr(GByteArray) binding = g_byte_array_new ();
  const char *bare;
  g_autofree char *name = NULL;
  g_autofree char *client_nonce = NULL;
  guint8 salt[16];
  g_autofree char *salt64 = NULL;
  g_autofree char *nonce = NULL;
  g_autofree char *server_first = NULL;
  g_autofree char *answer = NULL;
  g_autofree char *client_final = NULL;
  g_autofree char *c = NULL;
  g_autofree char *expected_c = NULL;
  g_autofree char *r = NULL;
  g_autofree char *proof64 = NULL;
  g_autoptr(GBytes) salted = NULL;
  g_autoptr(GBytes) client_key = NULL;
  g_autoptr(GBytes) stored_key = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autoptr(GBytes) server_key = NULL;
  g_autoptr(GBytes) server_signature = NULL;
  g_autoptr(GBytes) recovered_key = NULL;
  g_autofree char *auth_message = NULL;
  g_autofree guchar *proof = NULL;
  gsize proof_length = 0;

  if (n_args < 3 || (!g_str_equal (args[0], "SHA-1") &&
                     !g_str_equal (args[0], "SHA-256")))
    {
      peer_fail (peer, line, "SCRAM <SHA-1|SHA-256> <user> <password> "
                             "[PLUS] [WRONG-BINDING]");
      return FALSE;
    }
  digest.type = g_str_equal (args[0], "SHA-1") ? G_CHECKSUM_SHA1 : G_CHECKSUM_SHA256;
  digest.length = (gsize) g_checksum_type_get_length (digest.type);
  mechanism = g_strconcat ("SCRAM-", args[0], plus ? "-PLUS" : "", NULL);

  /* AUTH SCRAM-... [initial response] */
  command = peer_read_line (peer);
  if (command == NULL)
    {
      peer_fail (peer, line, "no AUTH %s came", mechanism);
      return FALSE;
    }
  peer_note_command (peer, command);
  {
    g_auto(GStrv) words = g_strsplit (command, " ", -1);

    if (g_strv_length (words) < 2 || g_strv_length (words) > 3 ||
        g_ascii_strcasecmp (words[0], "AUTH") != 0 ||
        g_ascii_strcasecmp (words[1], mechanism) != 0)
      {
        peer_fail (peer, line, "got “%s”, expected AUTH %s", command, mechanism);
        return FALSE;
      }
    if (words[2] != NULL)
      initial = g_strdup (words[2]);
  }
  if (initial == NULL)
    {
      peer_send_line (peer, "334 ");
      initial = peer_read_line (peer);
      if (initial == NULL)
        return FALSE;
    }

  /* client-first-message: gs2-header client-first-message-bare */
  client_first = decode (initial, NULL);
  if (plus)
    {
      if (!server_binding (peer, wrong, &binding_type, binding))
        return FALSE;
      expected_gs2 = g_strdup_printf ("p=%s,,", binding_type);
    }
  else
    expected_gs2 = g_strdup (peer->is_tls && !no_binding ? "y,," : "n,,");
  if (!g_str_has_prefix (client_first, expected_gs2))
    {
      peer_send_line (peer, "535 5.7.8 Authentication credentials invalid");
      peer_fail (peer, line, "client-first-message “%s”: expected the GS2 "
                             "header “%s”", client_first, expected_gs2);
      return FALSE;
    }
  bare = client_first + strlen (expected_gs2);
  name = attribute (bare, 'n');
  client_nonce = attribute (bare, 'r');
  if (name == NULL || client_nonce == NULL || !g_str_equal (name, args[1]))
    {
      peer_fail (peer, line, "client-first-message-bare “%s”: expected "
                             "n=%s,r=...", bare, args[1]);
      return FALSE;
    }

  /* server-first-message */
  for (gsize i = 0; i < sizeof salt; i++)
    salt[i] = (guint8) g_random_int_range (0, 256);
  salt64 = g_base64_encode (salt, sizeof salt);
  {
    guint8 own[18];
    g_autofree char *own64 = NULL;

    for (gsize i = 0; i < sizeof own; i++)
      own[i] = (guint8) g_random_int_range (0, 256);
    own64 = g_base64_encode (own, sizeof own);
    nonce = g_strconcat (client_nonce, own64, NULL);
  }
  server_first = g_strdup_printf ("r=%s,s=%s,i=%d", nonce, salt64,
                                  SCRAM_ITERATIONS);
  {
    g_autofree char *encoded = g_base64_encode ((const guchar *) server_first,
                                                strlen (server_first));
    g_autofree char *reply = g_strconcat ("334 ", encoded, NULL);

    peer_send_line (peer, reply);
  }

  /* client-final-message: c=...,r=...,p=... */
  answer = peer_read_line (peer);
  if (answer == NULL)
    return FALSE;
  if (g_str_equal (answer, "*"))
    {
      peer_send_line (peer, "501 5.7.0 Authentication cancelled");
      peer_fail (peer, line, "the client cancelled SCRAM");
      return FALSE;
    }
  client_final = decode (answer, NULL);
  c = attribute (client_final, 'c');
  r = attribute (client_final, 'r');
  proof64 = attribute (client_final, 'p');
  {
    g_autoptr(GByteArray) cbind = g_byte_array_new ();

    g_byte_array_append (cbind, (const guint8 *) expected_gs2,
                         (guint) strlen (expected_gs2));
    g_byte_array_append (cbind, binding->data, binding->len);
    expected_c = g_base64_encode (cbind->data, cbind->len);
  }
  if (c == NULL || r == NULL || proof64 == NULL || !g_str_equal (r, nonce) ||
      strstr (client_final, ",p=") == NULL)
    {
      peer_send_line (peer, "535 5.7.8 Authentication credentials invalid");
      peer_fail (peer, line, "client-final-message “%s”: expected "
                             "c=...,r=<nonce>,...,p=<proof>", client_final);
      return FALSE;
    }
  if (!g_str_equal (c, expected_c))
    {
      /* RFC 5802 §5.1: channel-bindings-dont-match; the script goes on
       * (the test expects this with WRONG-BINDING) */
      if (!wrong)
        peer_fail (peer, line, "channel binding “%s”, expected “%s”", c,
                   expected_c);
      return peer_send_line (peer, "535 5.7.8 Authentication credentials "
                                   "invalid (channel bindings don't match)");
    }

  salted = salted_password (&digest, args[2], salt, sizeof salt);
  client_key = hmac (&digest, g_bytes_get_data (salted, NULL), digest.length,
                     (const guint8 *) "Client Key", 10);
  stored_key = hash (&digest, client_key);
  {
    g_autofree char *without_proof = g_strndup (client_final,
                                                (gsize) (strstr (client_final, ",p=") -
                                                         client_final));

    auth_message = g_strjoin (",", bare, server_first, without_proof, NULL);
  }
  signature = hmac (&digest, g_bytes_get_data (stored_key, NULL), digest.length,
                    (const guint8 *) auth_message, strlen (auth_message));
  proof = g_base64_decode (proof64, &proof_length);
  if (proof_length != digest.length)
    return peer_send_line (peer, "535 5.7.8 Authentication credentials invalid");
  {
    const guint8 *s = g_bytes_get_data (signature, NULL);
    guint8 recovered[64];

    for (gsize k = 0; k < digest.length; k++)
      recovered[k] = proof[k] ^ s[k];
    {
      g_autoptr(GBytes) key = g_bytes_new (recovered, digest.length);

      recovered_key = hash (&digest, key);
    }
  }
  if (!g_bytes_equal (recovered_key, stored_key))
    return peer_send_line (peer, "535 5.7.8 Authentication credentials invalid");

  /* server-final-message, then the outcome */
  server_key = hmac (&digest, g_bytes_get_data (salted, NULL), digest.length,
                     (const guint8 *) "Server Key", 10);
  server_signature = hmac (&digest, g_bytes_get_data (server_key, NULL),
                           digest.length, (const guint8 *) auth_message,
                           strlen (auth_message));
  {
    g_autofree char *v64 = g_base64_encode (g_bytes_get_data (server_signature, NULL),
                                            digest.length);
    g_autofree char *final = g_strconcat ("v=", v64, NULL);
    g_autofree char *encoded = g_base64_encode ((const guchar *) final,
                                                strlen (final));
    g_autofree char *reply = g_strconcat ("334 ", encoded, NULL);
    g_autofree char *empty = NULL;

    peer_send_line (peer, reply);
    empty = peer_read_line (peer);
    if (empty == NULL)
      return FALSE;
    if (*empty != '\0')
      {
        peer_fail (peer, line, "after the server-final-message: “%s”", empty);
        return FALSE;
      }
  }

  return peer_send_line (peer, "235 2.7.0 Authentication successful");
}
