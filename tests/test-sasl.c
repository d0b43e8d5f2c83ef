/* test-sasl.c: SASL mechanisms on the RFC test vectors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Challenges and responses are base64 in the API; the helpers here encode
 * the challenges and decode the responses so that the tests read like the
 * exchanges printed in the RFCs.
 */

#include "config.h"

#include <string.h>

#include "smtpclient/smtpclient-sasl-private.h"
#include "smtpclient/smtpclient-error.h"

/* RFC 5802 §5 */
#define RFC5802_NONCE "fyko+d2lbbFgONRv9qkxdawL"
#define RFC5802_SERVER_FIRST \
  "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
#define RFC5802_CLIENT_FINAL \
  "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j," \
  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define RFC5802_SERVER_FINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

/* RFC 7677 §3 */
#define RFC7677_NONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC7677_SERVER_FIRST \
  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
  "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC7677_CLIENT_FINAL \
  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC7677_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* RFC 7628 §4.3: the server's error for an invalid token */
#define RFC7628_ERROR_JSON \
  "{\"status\":\"invalid_token\",\"scope\":\"example_scope\"," \
  "\"openid-configuration\":" \
  "\"https://example.com/.well-known/openid-configuration\"}"

static char *
encode (const char *text)
{
  return g_base64_encode ((const guchar *) text, strlen (text));
}

/* A base64 response decoded, NUL-terminated (it may contain NULs) */
static char *
decode (const char *base64,
        gsize      *length)
{
  g_autofree guchar *bytes = NULL;
  gsize n = 0;
  char *text;

  bytes = g_base64_decode (base64, &n);
  text = g_malloc (n + 1);
  if (n > 0)
    memcpy (text, bytes, n);
  text[n] = '\0';
  if (length != NULL)
    *length = n;
  return text;
}

static SmtpClientSasl *
new_sasl (const char *mechanism,
          const char *user,
          const char *password)
{
  g_autoptr(GError) error = NULL;
  SmtpClientSasl *sasl;

  sasl = smtp_client_sasl_new (mechanism, user, password,
                               "smtp.example.org", 587, &error);
  g_assert_no_error (error);
  g_assert_nonnull (sasl);
  return sasl;
}

/* Answer the challenge @text (plain, encoded here); the response must
 * decode to @expected (NUL-terminated) */
static void
step_expect (SmtpClientSasl *sasl,
             const char     *text,
             const char     *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *challenge = encode (text);
  g_autofree char *response = NULL;
  g_autofree char *decoded = NULL;
  gsize length;

  g_assert_true (smtp_client_sasl_step (sasl, challenge, &response, &error));
  g_assert_no_error (error);
  g_assert_nonnull (response);
  decoded = decode (response, &length);
  g_assert_cmpmem (decoded, length, expected, strlen (expected));
}

/* Answer the challenge @text; the step must fail with AUTH_FAILED and no
 * response.  Returns the error message. */
static char *
step_fail (SmtpClientSasl *sasl,
           const char     *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *challenge = encode (text);
  g_autofree char *response = NULL;

  g_assert_false (smtp_client_sasl_step (sasl, challenge, &response,
                                         &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_null (response);
  return g_strdup (error->message);
}

static void
assert_initial_response (SmtpClientSasl *sasl,
                         const char     *expected,
                         gsize           expected_length)
{
  g_autofree char *response = smtp_client_sasl_get_initial_response (sasl);
  g_autofree char *decoded = NULL;
  gsize length;

  g_assert_nonnull (response);
  decoded = decode (response, &length);
  g_assert_cmpmem (decoded, length, expected, expected_length);
}

static void
assert_success (SmtpClientSasl *sasl)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (smtp_client_sasl_check_success (sasl, &error));
  g_assert_no_error (error);
}

static void
assert_no_success (SmtpClientSasl *sasl)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (smtp_client_sasl_check_success (sasl, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
}

static void
test_supported (void)
{
  static const char *const supported[] = {
    "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "OAUTHBEARER", "SCRAM-SHA-1",
    "SCRAM-SHA-256", "plain", "Login", "cram-md5", "xoauth2", "OAuthBearer",
    "scram-sha-1", "Scram-Sha-256", "SCRAM-SHA-256-PLUS", "scram-sha-1-plus",
  };
  static const char *const unsupported[] = {
    "", "GSSAPI", "NTLM", "DIGEST-MD5", "SCRAM-SHA-512-PLUS", "SCRAM-SHA-512",
    "PLAIN ", "PLAINX", "ANONYMOUS", "EXTERNAL",
  };
  gsize i;

  g_test_summary ("Which mechanism names are known, in any case");

  for (i = 0; i < G_N_ELEMENTS (supported); i++)
    g_assert_true (smtp_client_sasl_is_supported (supported[i]));
  for (i = 0; i < G_N_ELEMENTS (unsupported); i++)
    g_assert_false (smtp_client_sasl_is_supported (unsupported[i]));
}

static void
test_choose (void)
{
  static const struct
  {
    const char *offered[8];
    const char *chosen;
  } cases[] = {
    { { "PLAIN", "LOGIN", NULL }, "PLAIN" },
    { { "LOGIN", "PLAIN", NULL }, "PLAIN" },
    { { "LOGIN", NULL }, "LOGIN" },
    { { "login", "cram-md5", NULL }, "CRAM-MD5" },
    { { "PLAIN", "CRAM-MD5", "SCRAM-SHA-1", NULL }, "SCRAM-SHA-1" },
    { { "SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN", NULL }, "SCRAM-SHA-256" },
    { { "scram-sha-256", NULL }, "SCRAM-SHA-256" },
    { { "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", NULL }, "SCRAM-SHA-1" },
    { { "XOAUTH2", "PLAIN", NULL }, "PLAIN" },
    { { "OAUTHBEARER", "XOAUTH2", "LOGIN", NULL }, "LOGIN" },
    { { "XOAUTH2", NULL }, NULL },
    { { "OAUTHBEARER", "XOAUTH2", NULL }, NULL },
    { { "GSSAPI", "NTLM", "SCRAM-SHA-256-PLUS", NULL }, NULL },
    { { NULL }, NULL },
  };
  gsize i;

  g_test_summary ("The strongest offered password mechanism is chosen; "
                  "OAuth mechanisms never are");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpstr (smtp_client_sasl_choose (cases[i].offered), ==,
                     cases[i].chosen);
  g_assert_null (smtp_client_sasl_choose (NULL));
}

static void
test_new_errors (void)
{
  static const struct
  {
    const char *mechanism;
    const char *user;
    const char *password;
  } cases[] = {
    { "GSSAPI", "user", "secret" },
    { "", "user", "secret" },
    { "PLAIN-X", "user", "secret" },
    { "PLAIN", "", "secret" },
    { "PLAIN", "user", "" },
    { "PLAIN", "us\xc3", "secret" },
    { "SCRAM-SHA-256", "user", "se\xffret" },
    { "LOGIN", "\xe9t\xe9", "secret" },
    { "XOAUTH2", "user", "tok\001en" },
    { "XOAUTH2", "us\ner", "token" },
    { "OAUTHBEARER", "user", "token\r\n" },
  };
  gsize i;

  g_test_summary ("Unknown mechanisms and unusable credentials are "
                  "configuration errors");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmtpClientSasl) sasl = NULL;

      sasl = smtp_client_sasl_new (cases[i].mechanism, cases[i].user,
                                   cases[i].password, "smtp.example.org",
                                   587, &error);
      g_assert_null (sasl);
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
      g_assert_true (g_utf8_validate (error->message, -1, NULL));
    }
}

static void
test_mechanism_name (void)
{
  static const struct
  {
    const char *given;
    const char *canonical;
  } cases[] = {
    { "plain", "PLAIN" },
    { "Login", "LOGIN" },
    { "cram-MD5", "CRAM-MD5" },
    { "xoauth2", "XOAUTH2" },
    { "oauthbearer", "OAUTHBEARER" },
    { "scram-sha-1", "SCRAM-SHA-1" },
    { "SCRAM-sha-256", "SCRAM-SHA-256" },
  };
  gsize i;

  g_test_summary ("Mechanism names are case-insensitive and reported in "
                  "upper case");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SmtpClientSasl) sasl = new_sasl (cases[i].given, "user",
                                                 "secret");

      g_assert_cmpstr (smtp_client_sasl_get_mechanism (sasl), ==,
                       cases[i].canonical);
    }
}

static void
test_plain (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("PLAIN", "tim",
                                             "tanstaaftanstaaf");
  g_autofree char *response = NULL;
  g_autofree char *message = NULL;

  g_test_summary ("PLAIN: the RFC 4616 example, empty authzid");

  response = smtp_client_sasl_get_initial_response (sasl);
  g_assert_cmpstr (response, ==, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  assert_initial_response (sasl, "\0tim\0tanstaaftanstaaf", 21);

  /* No challenge is expected after the initial response */
  message = step_fail (sasl, "what?");
  g_assert_nonnull (message);
  assert_no_success (sasl);
}

static void
test_plain_no_initial_response (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("PLAIN", "tim",
                                             "tanstaaftanstaaf");
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;
  g_autofree char *message = NULL;

  g_test_summary ("PLAIN: \"AUTH PLAIN\" alone, the empty challenge gets "
                  "the credentials");

  g_assert_true (smtp_client_sasl_step (sasl, "", &response, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (response, ==, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");

  message = step_fail (sasl, "");
  g_assert_nonnull (message);
}

static void
test_login (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("LOGIN", "user@example.org",
                                             "p4ssw0rd");
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;
  g_autofree char *message = NULL;

  g_test_summary ("LOGIN: user name, then password, in that order");

  g_assert_null (smtp_client_sasl_get_initial_response (sasl));

  g_assert_true (smtp_client_sasl_step (sasl, "VXNlcm5hbWU6", &response,
                                        &error));
  g_assert_no_error (error);
  g_assert_cmpstr (response, ==, "dXNlckBleGFtcGxlLm9yZw==");
  g_clear_pointer (&response, g_free);

  g_assert_true (smtp_client_sasl_step (sasl, "UGFzc3dvcmQ6", &response,
                                        &error));
  g_assert_no_error (error);
  g_assert_cmpstr (response, ==, "cDRzc3cwcmQ=");

  message = step_fail (sasl, "Password:");
  g_assert_nonnull (message);
}

static void
test_login_lenient (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("login", "user", "secret");
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;

  g_test_summary ("LOGIN: the prompts do not matter, only their order");

  /* Lower-case prompts, odd prompts, an empty one, even a non-base64 one */
  step_expect (sasl, "password:", "user");
  g_assert_true (smtp_client_sasl_step (sasl, "", &response, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (response, ==, "c2VjcmV0");
  assert_success (sasl);

  g_clear_pointer (&sasl, smtp_client_sasl_free);
  g_clear_pointer (&response, g_free);
  sasl = new_sasl ("LOGIN", "user", "secret");
  g_assert_true (smtp_client_sasl_step (sasl, "not base64!", &response,
                                        &error));
  g_assert_no_error (error);
  g_assert_cmpstr (response, ==, "dXNlcg==");
  step_expect (sasl, "Passwort:", "secret");
}

static void
test_cram_md5 (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("CRAM-MD5", "tim",
                                             "tanstaaftanstaaf");
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;

  g_test_summary ("CRAM-MD5: the RFC 2195 example");

  g_assert_null (smtp_client_sasl_get_initial_response (sasl));

  g_assert_true (smtp_client_sasl_step (
                   sasl, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1j"
                   "aS5uZXQ+", &response, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (response, ==,
                   "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
  g_clear_pointer (&response, g_free);

  g_free (step_fail (sasl, "<again@example>"));
  assert_no_success (sasl);

  g_clear_pointer (&sasl, smtp_client_sasl_free);
  sasl = new_sasl ("CRAM-MD5", "tim", "tanstaaftanstaaf");
  step_expect (sasl, "<1896.697170952@postoffice.reston.mci.net>",
               "tim b913a602c7eda7a495b4e6e7334d3890");
  assert_success (sasl);
}

static void
test_cram_md5_malformed (void)
{
  static const char *const challenges[] = {
    "", "!!!!", "PDE4OTY", "PDE4OTY=x", "PD=4", "====",
  };
  gsize i;

  g_test_summary ("CRAM-MD5: an empty or non-base64 challenge fails");

  for (i = 0; i < G_N_ELEMENTS (challenges); i++)
    {
      g_autoptr(SmtpClientSasl) sasl = new_sasl ("CRAM-MD5", "tim", "pw");
      g_autoptr(GError) error = NULL;
      g_autofree char *response = NULL;

      g_assert_false (smtp_client_sasl_step (sasl, challenges[i], &response,
                                             &error));
      g_assert_error (error, SMTP_CLIENT_ERROR,
                      SMTP_CLIENT_ERROR_AUTH_FAILED);
      g_assert_null (response);
    }
}

static void
test_xoauth2 (void)
{
  g_autoptr(SmtpClientSasl) sasl = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;
  g_autofree char *challenge = NULL;

  g_test_summary ("XOAUTH2: the initial response, and an error challenge "
                  "answered with an empty response");

  sasl = new_sasl ("XOAUTH2", "someuser@example.com",
                   "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg");
  response = smtp_client_sasl_get_initial_response (sasl);
  g_assert_cmpstr (response, ==,
                   "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5"
                   "LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cB"
                   "AQ==");
  g_clear_pointer (&response, g_free);

  challenge = encode ("{\"status\":\"401\",\"schemes\":\"bearer mac\","
                      "\"scope\":\"https://mail.google.com/\"}");
  g_assert_false (smtp_client_sasl_step (sasl, challenge, &response,
                                         &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_nonnull (strstr (error->message, "401"));
  g_assert_cmpstr (response, ==, "");
  assert_no_success (sasl);
}

static void
test_xoauth2_no_initial_response (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("XOAUTH2", "u@example.com",
                                             "token");

  g_test_summary ("XOAUTH2: \"AUTH XOAUTH2\" alone, the empty challenge "
                  "gets the initial response");

  step_expect (sasl, "", "user=u@example.com\001auth=Bearer token\001\001");
  assert_success (sasl);
}

static void
test_oauthbearer (void)
{
  g_autoptr(SmtpClientSasl) sasl = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;

  g_test_summary ("OAUTHBEARER: the RFC 7628 §4.1 initial response");

  sasl = smtp_client_sasl_new ("OAUTHBEARER", "user@example.com",
                               "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
                               "server.example.com", 143, &error);
  g_assert_no_error (error);
  response = smtp_client_sasl_get_initial_response (sasl);
  g_assert_cmpstr (response, ==,
                   "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUu"
                   "Y29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNS"
                   "bGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
  assert_success (sasl);
}

static void
test_oauthbearer_error (void)
{
  g_autoptr(SmtpClientSasl) sasl = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;
  g_autofree char *challenge = NULL;

  g_test_summary ("OAUTHBEARER: the RFC 7628 §4.3 error challenge is "
                  "answered with %x01 and names the status");

  sasl = new_sasl ("OAUTHBEARER", "user@example.com", "bad-token");
  g_free (smtp_client_sasl_get_initial_response (sasl));

  challenge = encode (RFC7628_ERROR_JSON);
  g_assert_cmpstr (challenge, ==,
                   "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxl"
                   "X3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4"
                   "YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9u"
                   "In0=");
  g_assert_false (smtp_client_sasl_step (sasl, challenge, &response,
                                         &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_nonnull (strstr (error->message, "invalid_token"));
  g_assert_cmpstr (response, ==, "AQ==");
  assert_no_success (sasl);

  /* Further challenges are refused */
  g_clear_error (&error);
  g_clear_pointer (&response, g_free);
  g_assert_false (smtp_client_sasl_step (sasl, challenge, &response,
                                         &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
}

static void
test_oauth_error_variants (void)
{
  static const struct
  {
    const char *json;
    const char *status;   /* NULL: none to be found */
  } cases[] = {
    { "{ \"scope\" : \"a,b\" , \"status\" : \"invalid_token\" }",
      "invalid_token" },
    { "{\"schemes\":{\"status\":\"nested\"},\"status\":\"400\"}", "400" },
    { "{\"status\":401}", "401" },
    { "{\"scope\":\"\\\"status\\\"\",\"status\":\"x\\\"y\"}", "x\\\"y" },
    { "{\"scope\":\"example\"}", NULL },
    { "{\"status\":\"unterminated", NULL },
    { "not json at all", NULL },
    { "", NULL },
  };
  gsize i;

  g_test_summary ("XOAUTH2/OAUTHBEARER: error challenges of any shape fail "
                  "with the fixed response");

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *mechanism = i % 2 ? "XOAUTH2" : "OAUTHBEARER";
      g_autoptr(SmtpClientSasl) sasl = new_sasl (mechanism, "u", "t");
      g_autoptr(GError) error = NULL;
      g_autofree char *response = NULL;
      g_autofree char *challenge = encode (cases[i].json);

      g_free (smtp_client_sasl_get_initial_response (sasl));

      /* An empty first challenge asks for the initial response again */
      if (*cases[i].json == '\0')
        {
          g_assert_true (smtp_client_sasl_step (sasl, challenge, &response,
                                                &error));
          g_clear_pointer (&response, g_free);
        }

      g_assert_false (smtp_client_sasl_step (sasl, challenge, &response,
                                             &error));
      g_assert_error (error, SMTP_CLIENT_ERROR,
                      SMTP_CLIENT_ERROR_AUTH_FAILED);
      g_assert_cmpstr (response, ==, i % 2 ? "" : "AQ==");
      if (cases[i].status != NULL)
        g_assert_nonnull (strstr (error->message, cases[i].status));
      g_assert_null (strstr (error->message, "nested"));
    }
}

static void
test_oauthbearer_fields (void)
{
  g_autoptr(SmtpClientSasl) sasl = NULL;
  g_autoptr(GError) error = NULL;
  static const char expected[] =
    "n,a=a=2Cb=3Dc@example.com,\001auth=Bearer tok\001\001";

  g_test_summary ("OAUTHBEARER: the authzid is escaped; host and port are "
                  "left out when unknown");

  sasl = smtp_client_sasl_new ("oauthbearer", "a,b=c@example.com", "tok",
                               NULL, 0, &error);
  g_assert_no_error (error);
  assert_initial_response (sasl, expected, sizeof expected - 1);
}

/* Run a whole SCRAM exchange on an RFC vector */
static void
check_scram (const char *mechanism,
             const char *user,
             const char *password,
             const char *nonce,
             const char *client_first,
             const char *server_first,
             const char *client_final,
             const char *server_final)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl (mechanism, user, password);

  smtp_client_sasl_set_nonce (sasl, nonce);
  assert_initial_response (sasl, client_first, strlen (client_first));
  assert_no_success (sasl);

  g_clear_pointer (&sasl, smtp_client_sasl_free);
  sasl = new_sasl (mechanism, user, password);
  smtp_client_sasl_set_nonce (sasl, nonce);
  assert_initial_response (sasl, client_first, strlen (client_first));
  step_expect (sasl, server_first, client_final);
  step_expect (sasl, server_final, "");
  assert_success (sasl);

  /* Nothing may follow the server-final-message */
  g_free (step_fail (sasl, server_final));
}

static void
test_scram_sha_1 (void)
{
  g_test_summary ("SCRAM-SHA-1: the RFC 5802 §5 example");

  check_scram ("SCRAM-SHA-1", "user", "pencil", RFC5802_NONCE,
               "n,,n=user,r=" RFC5802_NONCE, RFC5802_SERVER_FIRST,
               RFC5802_CLIENT_FINAL, RFC5802_SERVER_FINAL);
}

static void
test_scram_sha_256 (void)
{
  g_test_summary ("SCRAM-SHA-256: the RFC 7677 §3 example");

  check_scram ("SCRAM-SHA-256", "user", "pencil", RFC7677_NONCE,
               "n,,n=user,r=" RFC7677_NONCE, RFC7677_SERVER_FIRST,
               RFC7677_CLIENT_FINAL, RFC7677_SERVER_FINAL);
}

static void
test_scram_more_vectors (void)
{
  g_test_summary ("SCRAM: escaped user name, UTF-8 password, other "
                  "iteration counts (vectors computed independently)");

  check_scram ("SCRAM-SHA-256", "us,e=r", "p\xc3\xa4ssw\xc3\xb6rd",
               "clientnonce123", "n,,n=us=2Ce=3Dr,r=clientnonce123",
               "r=clientnonce123+SERVER/x,s=c2FsdHlzYWx0,i=4097",
               "c=biws,r=clientnonce123+SERVER/x,"
               "p=z/cxJCqQU9nIamPxgyyDsiGLIlkiw7UOx9U+87sHnbo=",
               "v=8iLHRL4GCtBPY8+Y8u+ztM2/+7+AMX96Nuh3gI7MnvE=");
  check_scram ("SCRAM-SHA-1", "user", "pencil", "abc", "n,,n=user,r=abc",
               "r=abcdef,s=AAEC,i=1",
               "c=biws,r=abcdef,p=CWsFtfTGsWsoW4QR12Mzd4GhLbM=",
               "v=8l886du6w+fZQSQegVZwF+sgJ50=");
}

static void
test_scram_no_initial_response (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("SCRAM-SHA-1", "user",
                                             "pencil");
  g_autofree char *message = NULL;

  g_test_summary ("SCRAM: \"AUTH SCRAM-SHA-1\" alone, the empty challenge "
                  "gets the client-first-message");

  smtp_client_sasl_set_nonce (sasl, RFC5802_NONCE);
  step_expect (sasl, "", "n,,n=user,r=" RFC5802_NONCE);
  step_expect (sasl, RFC5802_SERVER_FIRST, RFC5802_CLIENT_FINAL);
  step_expect (sasl, RFC5802_SERVER_FINAL, "");
  assert_success (sasl);

  /* Server data before the client-first-message is refused */
  g_clear_pointer (&sasl, smtp_client_sasl_free);
  sasl = new_sasl ("SCRAM-SHA-1", "user", "pencil");
  message = step_fail (sasl, RFC5802_SERVER_FIRST);
  g_assert_nonnull (message);
}

static void
test_scram_random_nonce (void)
{
  g_autoptr(SmtpClientSasl) a = new_sasl ("SCRAM-SHA-256", "user", "pw");
  g_autoptr(SmtpClientSasl) b = new_sasl ("SCRAM-SHA-256", "user", "pw");
  g_autofree char *response_a = NULL;
  g_autofree char *response_b = NULL;
  g_autofree char *first_a = NULL;
  g_autofree char *first_b = NULL;
  const char *nonce;
  gsize i;

  g_test_summary ("SCRAM: the default client nonce is 24 random bytes in "
                  "base64");

  response_a = smtp_client_sasl_get_initial_response (a);
  response_b = smtp_client_sasl_get_initial_response (b);
  first_a = decode (response_a, NULL);
  first_b = decode (response_b, NULL);
  g_assert_true (g_str_has_prefix (first_a, "n,,n=user,r="));
  g_assert_cmpstr (first_a, !=, first_b);

  nonce = first_a + strlen ("n,,n=user,r=");
  g_assert_cmpuint (strlen (nonce), ==, 32);
  for (i = 0; nonce[i] != '\0'; i++)
    g_assert_true (g_ascii_isalnum (nonce[i]) || nonce[i] == '+'
                   || nonce[i] == '/');
}

typedef struct
{
  SmtpClientSasl *sasl;
} ScramFixture;

/* The RFC 5802 exchange, up to the server-final-message */
static void
scram_fixture_set_up (ScramFixture  *fixture,
                      gconstpointer  user_data)
{
  fixture->sasl = new_sasl ("SCRAM-SHA-1", "user", "pencil");
  smtp_client_sasl_set_nonce (fixture->sasl, RFC5802_NONCE);
  g_free (smtp_client_sasl_get_initial_response (fixture->sasl));
  if (user_data == NULL)
    step_expect (fixture->sasl, RFC5802_SERVER_FIRST, RFC5802_CLIENT_FINAL);
}

static void
scram_fixture_tear_down (ScramFixture  *fixture,
                         gconstpointer  user_data)
{
  g_clear_pointer (&fixture->sasl, smtp_client_sasl_free);
}

static void
test_scram_forged_signature (ScramFixture  *fixture,
                             gconstpointer  user_data)
{
  g_autofree char *message = NULL;

  g_test_summary ("SCRAM: a server signature that does not match fails, "
                  "and so does the 235 after it");

  /* The last character of the RFC signature changed */
  message = step_fail (fixture->sasl, "v=rmF9pqV8S7suAoZWja4dJRkFsKA=");
  g_assert_nonnull (message);
  assert_no_success (fixture->sasl);
}

static void
test_scram_signature_length (ScramFixture  *fixture,
                             gconstpointer  user_data)
{
  g_test_summary ("SCRAM: a truncated or malformed server signature fails");

  g_free (step_fail (fixture->sasl, "v=rmF9pqV8S7suAoZWja4dJRkF"));
  assert_no_success (fixture->sasl);
}

static void
test_scram_missing_signature (ScramFixture  *fixture,
                              gconstpointer  user_data)
{
  g_test_summary ("SCRAM: a 235 without the server-final-message fails");

  assert_no_success (fixture->sasl);
}

static void
test_scram_server_error (ScramFixture  *fixture,
                         gconstpointer  user_data)
{
  g_autofree char *message = NULL;

  g_test_summary ("SCRAM: an \"e=\" server-final-message fails with the "
                  "server's error");

  message = step_fail (fixture->sasl, "e=invalid-proof");
  g_assert_nonnull (strstr (message, "invalid-proof"));
  assert_no_success (fixture->sasl);
}

static void
test_scram_wrong_nonce (ScramFixture  *fixture,
                        gconstpointer  user_data)
{
  static const char *const server_firsts[] = {
    /* Not our nonce */
    "r=fyko+d2lbbFgONRv9qkxdawX3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"
    "i=4096",
    /* Only a prefix of ours */
    "r=fyko+d2lbbFg,s=QSXCR+Q6sek8bf92,i=4096",
    /* Exactly ours: the server added nothing */
    "r=" RFC5802_NONCE ",s=QSXCR+Q6sek8bf92,i=4096",
  };
  gsize i;

  g_test_summary ("SCRAM: a server nonce that does not extend ours fails");

  for (i = 0; i < G_N_ELEMENTS (server_firsts); i++)
    {
      g_autoptr(SmtpClientSasl) sasl = new_sasl ("SCRAM-SHA-1", "user",
                                                 "pencil");

      smtp_client_sasl_set_nonce (sasl, RFC5802_NONCE);
      g_free (smtp_client_sasl_get_initial_response (sasl));
      g_free (step_fail (sasl, server_firsts[i]));
      assert_no_success (sasl);
    }

  g_free (step_fail (fixture->sasl, server_firsts[0]));
}

static void
test_scram_malformed_server_first (void)
{
  static const char *const server_firsts[] = {
    "",
    "x",
    "e=unknown-user",
    "m=ext,r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=4096",
    "s=QSXCR+Q6sek8bf92,r=" RFC5802_NONCE "xyz,i=4096",
    "r=" RFC5802_NONCE "xyz,i=4096",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92",
    "r=" RFC5802_NONCE "xyz,s=,i=4096",
    "r=" RFC5802_NONCE "xyz,s=not base64!,i=4096",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=0",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=-1",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=4k",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=1000001",
    "r=" RFC5802_NONCE "xyz,s=QSXCR+Q6sek8bf92,i=99999999999999999999",
    "r=" RFC5802_NONCE "x\001z,s=QSXCR+Q6sek8bf92,i=4096",
  };
  gsize i;

  g_test_summary ("SCRAM: malformed server-first-messages, mandatory "
                  "extensions and iteration counts out of range fail");

  for (i = 0; i < G_N_ELEMENTS (server_firsts); i++)
    {
      g_autoptr(SmtpClientSasl) sasl = new_sasl ("SCRAM-SHA-1", "user",
                                                 "pencil");
      g_autofree char *message = NULL;

      smtp_client_sasl_set_nonce (sasl, RFC5802_NONCE);
      g_free (smtp_client_sasl_get_initial_response (sasl));
      if (*server_firsts[i] == '\0')
        {
          /* An empty challenge asks for the client-first-message again;
           * a second one is malformed */
          step_expect (sasl, "", "n,,n=user,r=" RFC5802_NONCE);
        }
      message = step_fail (sasl, server_firsts[i]);
      if (g_str_has_prefix (server_firsts[i], "e="))
        g_assert_nonnull (strstr (message, "unknown-user"));
      assert_no_success (sasl);
    }
}

static void
test_scram_not_base64 (void)
{
  g_autoptr(SmtpClientSasl) sasl = new_sasl ("SCRAM-SHA-256", "user", "pw");
  g_autoptr(GError) error = NULL;
  g_autofree char *response = NULL;

  g_test_summary ("SCRAM: a challenge that is not base64 fails");

  g_free (smtp_client_sasl_get_initial_response (sasl));
  g_assert_false (smtp_client_sasl_step (sasl, "r=abc,s=QSXCR+Q6,i=4096",
                                         &response, &error));
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_AUTH_FAILED);
  g_assert_null (response);
}

static void
test_scram_iteration_bounds (void)
{
  static const char *const counts[] = { "1", "1000000" };
  gsize i;

  g_test_summary ("SCRAM: iteration counts 1 and 1000000 are accepted");

  if (!g_test_slow ())
    {
      g_test_skip ("a million PBKDF2 rounds only with -m slow");
      return;
    }

  for (i = 0; i < G_N_ELEMENTS (counts); i++)
    {
      g_autoptr(SmtpClientSasl) sasl = new_sasl ("SCRAM-SHA-1", "user",
                                                 "pencil");
      g_autoptr(GError) error = NULL;
      g_autofree char *server_first = NULL;
      g_autofree char *challenge = NULL;
      g_autofree char *response = NULL;

      smtp_client_sasl_set_nonce (sasl, "abc");
      g_free (smtp_client_sasl_get_initial_response (sasl));
      server_first = g_strconcat ("r=abcdef,s=AAEC,i=", counts[i], NULL);
      challenge = encode (server_first);
      g_assert_true (smtp_client_sasl_step (sasl, challenge, &response,
                                            &error));
      g_assert_no_error (error);
    }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/smtpclient/sasl/supported", test_supported);
  g_test_add_func ("/smtpclient/sasl/choose", test_choose);
  g_test_add_func ("/smtpclient/sasl/new/errors", test_new_errors);
  g_test_add_func ("/smtpclient/sasl/new/mechanism-name",
                   test_mechanism_name);
  g_test_add_func ("/smtpclient/sasl/plain/rfc4616", test_plain);
  g_test_add_func ("/smtpclient/sasl/plain/no-initial-response",
                   test_plain_no_initial_response);
  g_test_add_func ("/smtpclient/sasl/login/sequence", test_login);
  g_test_add_func ("/smtpclient/sasl/login/lenient", test_login_lenient);
  g_test_add_func ("/smtpclient/sasl/cram-md5/rfc2195", test_cram_md5);
  g_test_add_func ("/smtpclient/sasl/cram-md5/malformed",
                   test_cram_md5_malformed);
  g_test_add_func ("/smtpclient/sasl/xoauth2/exchange", test_xoauth2);
  g_test_add_func ("/smtpclient/sasl/xoauth2/no-initial-response",
                   test_xoauth2_no_initial_response);
  g_test_add_func ("/smtpclient/sasl/oauthbearer/rfc7628", test_oauthbearer);
  g_test_add_func ("/smtpclient/sasl/oauthbearer/error",
                   test_oauthbearer_error);
  g_test_add_func ("/smtpclient/sasl/oauthbearer/fields",
                   test_oauthbearer_fields);
  g_test_add_func ("/smtpclient/sasl/oauth/error-variants",
                   test_oauth_error_variants);
  g_test_add_func ("/smtpclient/sasl/scram-sha-1/rfc5802", test_scram_sha_1);
  g_test_add_func ("/smtpclient/sasl/scram-sha-256/rfc7677",
                   test_scram_sha_256);
  g_test_add_func ("/smtpclient/sasl/scram/more-vectors",
                   test_scram_more_vectors);
  g_test_add_func ("/smtpclient/sasl/scram/no-initial-response",
                   test_scram_no_initial_response);
  g_test_add_func ("/smtpclient/sasl/scram/random-nonce",
                   test_scram_random_nonce);
  g_test_add ("/smtpclient/sasl/scram/forged-signature", ScramFixture, NULL,
              scram_fixture_set_up, test_scram_forged_signature,
              scram_fixture_tear_down);
  g_test_add ("/smtpclient/sasl/scram/signature-length", ScramFixture, NULL,
              scram_fixture_set_up, test_scram_signature_length,
              scram_fixture_tear_down);
  g_test_add ("/smtpclient/sasl/scram/missing-signature", ScramFixture, NULL,
              scram_fixture_set_up, test_scram_missing_signature,
              scram_fixture_tear_down);
  g_test_add ("/smtpclient/sasl/scram/server-error", ScramFixture, NULL,
              scram_fixture_set_up, test_scram_server_error,
              scram_fixture_tear_down);
  g_test_add ("/smtpclient/sasl/scram/wrong-nonce", ScramFixture, "first",
              scram_fixture_set_up, test_scram_wrong_nonce,
              scram_fixture_tear_down);
  g_test_add_func ("/smtpclient/sasl/scram/malformed-server-first",
                   test_scram_malformed_server_first);
  g_test_add_func ("/smtpclient/sasl/scram/not-base64",
                   test_scram_not_base64);
  g_test_add_func ("/smtpclient/sasl/scram/iteration-bounds",
                   test_scram_iteration_bounds);

  return g_test_run ();
}
