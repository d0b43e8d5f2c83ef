/* fuzz-sasl.c: libFuzzer target for the SASL server-message parsers:
 * SCRAM's server-first and server-final messages, the OAuth error JSON,
 * and the challenges of LOGIN and CRAM-MD5
 *
 * The first byte chooses what the rest is:
 *   0  a SCRAM-SHA-256 server-first-message
 *   1  a SCRAM-SHA-1 server-first-message
 *   2  a SCRAM-SHA-256 server-final-message, after a valid server-first
 *   3  an OAUTHBEARER error challenge (JSON), after the initial response
 *   4  the JSON alone, to the status finder
 *   5  LOGIN challenges, then CRAM-MD5's (raw base64 text)
 * The server's messages are base64-encoded before they are stepped, as
 * they are on the wire; the step must either answer or fail cleanly, and a
 * SCRAM exchange must never succeed without the server's signature.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtpclient/smtpclient-sasl-mechanism-private.h"

#define NONCE "fyko+d2lbbFgONRv9qkxdawL"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

/* Step with @message (raw), base64-encoded as on the wire */
static gboolean
step_raw (SmtpClientSasl *sasl,
          const uint8_t  *message,
          size_t          length)
{
  g_autofree char *challenge = g_base64_encode (message, length);
  g_autofree char *response = NULL;
  g_autoptr(GError) error = NULL;
  gboolean ok = smtp_client_sasl_step (sasl, challenge, &response, &error);

  if (ok)
    {
      g_assert_no_error (error);
      g_assert_nonnull (response);
    }
  else
    g_assert_nonnull (error);

  return ok;
}

static SmtpClientSasl *
new_sasl (const char *mechanism)
{
  g_autoptr(GError) error = NULL;
  SmtpClientSasl *sasl = smtp_client_sasl_new (mechanism, "user", "pencil",
                                               "mail.example.org", 587,
                                               &error);

  g_assert_no_error (error);
  return sasl;
}

/* An iteration count the library accepts but that would make one input
 * cost seconds under ASan (PBKDF2 with up to a million rounds, each a few
 * allocations): the parser is what this target explores, and the bound
 * itself is unit-tested (test-sasl) */
#define FUZZ_MAX_ITERATIONS 4096

static gboolean
has_costly_iterations (const uint8_t *data,
                       size_t         size)
{
  for (size_t i = 0; i + 2 < size; i++)
    if (data[i] == 'i' && data[i + 1] == '=' && g_ascii_isdigit (data[i + 2]))
      {
        guint64 value = 0;

        for (size_t k = i + 2; k < size && g_ascii_isdigit (data[k]); k++)
          {
            value = value * 10 + (data[k] - '0');
            if (value > SCRAM_MAX_ITERATIONS)
              break;
          }
        if (value > FUZZ_MAX_ITERATIONS && value <= SCRAM_MAX_ITERATIONS)
          return TRUE;
      }

  return FALSE;
}

static void
fuzz_scram_first (const char    *mechanism,
                  const uint8_t *data,
                  size_t         size)
{
  g_autoptr(SmtpClientSasl) sasl = NULL;
  g_autofree char *initial = NULL;
  g_autoptr(GError) error = NULL;

  if (has_costly_iterations (data, size))
    return;

  sasl = new_sasl (mechanism);
  smtp_client_sasl_set_nonce (sasl, NONCE);
  initial = smtp_client_sasl_get_initial_response (sasl);
  g_assert_nonnull (initial);

  step_raw (sasl, data, size);
  /* Never authenticated without a server-final-message */
  g_assert_false (smtp_client_sasl_check_success (sasl, &error));
}

static void
fuzz_scram_final (const uint8_t *data,
                  size_t         size)
{
  static const char first[] = "r=" NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                              "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1";
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("SCRAM-SHA-256");
  g_autofree char *initial = NULL;
  g_autoptr(GError) error = NULL;
  gboolean verified;

  smtp_client_sasl_set_nonce (sasl, NONCE);
  initial = smtp_client_sasl_get_initial_response (sasl);
  g_assert_true (step_raw (sasl, (const uint8_t *) first, strlen (first)));

  verified = step_raw (sasl, data, size);
  /* Only the right signature verifies the server */
  g_assert_true (smtp_client_sasl_check_success (sasl, &error) == verified);
}

static void
fuzz_oauth (const uint8_t *data,
            size_t         size)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("OAUTHBEARER");
  g_autofree char *initial = smtp_client_sasl_get_initial_response (sasl);

  g_assert_nonnull (initial);
  /* Any challenge is the server's error report: answered, and failed.
   * (An empty one asks for the initial response, as it would after
   * "AUTH OAUTHBEARER" without it.) */
  if (step_raw (sasl, data, size))
    {
      g_autofree char *challenge = g_base64_encode (data, size);

      g_assert_true (g_strstrip (challenge)[0] == '\0');
    }
}

static void
fuzz_status (const uint8_t *data,
             size_t          size)
{
  g_autofree char *status = sasl_oauth_find_status ((const char *) data, size);

  if (status != NULL)
    for (const char *p = status; *p != '\0'; p++)
      g_assert_true (*p >= 0x20 && *p <= 0x7e);
}

static void
fuzz_login_cram (const uint8_t *data,
                 size_t         size)
{
  g_autoptr(SmtpClientSasl) login = new_sasl ("LOGIN");
  g_autoptr(SmtpClientSasl) cram = new_sasl ("CRAM-MD5");
  g_autofree char *text = g_strndup ((const char *) data, size);
  char *response = NULL;
  GError *error = NULL;

  for (guint i = 0; i < 3; i++)
    {
      if (smtp_client_sasl_step (login, text, &response, &error))
        g_free (response);
      else
        g_clear_error (&error);
      response = NULL;
    }

  if (smtp_client_sasl_step (cram, text, &response, &error))
    g_free (response);
  else
    g_clear_error (&error);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size < 1)
    return 0;

  switch (data[0] % 6)
    {
    case 0:
      fuzz_scram_first ("SCRAM-SHA-256", data + 1, size - 1);
      break;
    case 1:
      fuzz_scram_first ("SCRAM-SHA-1", data + 1, size - 1);
      break;
    case 2:
      fuzz_scram_final (data + 1, size - 1);
      break;
    case 3:
      fuzz_oauth (data + 1, size - 1);
      break;
    case 4:
      fuzz_status (data + 1, size - 1);
      break;
    default:
      fuzz_login_cram (data + 1, size - 1);
      break;
    }

  return 0;
}
