/* test-discovery.c: smtp_client_session_new_for_domain_async() (RFC 6186,
 * RFC 8314) against SRV records served by a GResolver of the test's own,
 * installed with g_resolver_set_default(): both services, only one, none,
 * priority and weight, a "." target, and which name the certificate is
 * checked against
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The resolver answers SRV lookups from a table the test fills, and
 * resolves every name under .test to 127.0.0.1, where the scripted server
 * listens.  The test certificate is for example.test and
 * mail.example.test (and 127.0.0.1, localhost), not for other names.
 */

#include "config.h"

#include <string.h>

#include "smtpclient-test-certs.h"
#include "smtpclient-test-server.h"
#include "smtpclient-test-utils.h"

#define GREETING "S 220 scripted ESMTP\n"

/* ---------------------------------------------------------------------- */
/* A resolver serving the test's records */

typedef struct
{
  char    *rrname;    /* "_submissions._tcp.example.test" */
  guint16  priority;
  guint16  weight;
  guint16  port;
  char    *target;
} Record;

static GPtrArray *records;  /* of Record* */
static guint srv_lookups;

typedef struct { GResolver parent_instance; } FakeResolver;
typedef struct { GResolverClass parent_class; } FakeResolverClass;

static GType fake_resolver_get_type (void);
G_DEFINE_TYPE (FakeResolver, fake_resolver, G_TYPE_RESOLVER)

static void
record_free (Record *record)
{
  g_free (record->rrname);
  g_free (record->target);
  g_free (record);
}

static void
add_record (const char *rrname,
            guint       priority,
            guint       weight,
            guint       port,
            const char *target)
{
  Record *record = g_new0 (Record, 1);

  record->rrname = g_strdup (rrname);
  record->priority = (guint16) priority;
  record->weight = (guint16) weight;
  record->port = (guint16) port;
  record->target = g_strdup (target);
  g_ptr_array_add (records, record);
}

/* In the table's order, not sorted: sorting is the caller's job */
static GList *
fake_lookup_service (GResolver     *resolver,
                     const char    *rrname,
                     GCancellable  *cancellable,
                     GError       **error)
{
  GList *targets = NULL;

  srv_lookups++;
  for (guint i = 0; i < records->len; i++)
    {
      Record *r = g_ptr_array_index (records, i);

      if (g_ascii_strcasecmp (r->rrname, rrname) == 0)
        targets = g_list_append (targets, g_srv_target_new (r->target, r->port,
                                                            r->priority, r->weight));
    }
  if (targets == NULL)
    g_set_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                 "No DNS record of the requested type for “%s”", rrname);
  return targets;
}

static GList *
fake_lookup_by_name_with_flags (GResolver                 *resolver,
                                const char                *hostname,
                                GResolverNameLookupFlags   flags,
                                GCancellable              *cancellable,
                                GError                   **error)
{
  if (!g_str_has_suffix (hostname, ".test") ||
      (flags & G_RESOLVER_NAME_LOOKUP_FLAGS_IPV6_ONLY) != 0)
    {
      g_set_error (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND,
                   "Unknown host “%s”", hostname);
      return NULL;
    }
  return g_list_append (NULL, g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4));
}

static GList *
fake_lookup_by_name (GResolver     *resolver,
                     const char    *hostname,
                     GCancellable  *cancellable,
                     GError       **error)
{
  return fake_lookup_by_name_with_flags (resolver, hostname,
                                         G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
                                         cancellable, error);
}

/* The asynchronous forms answer from the main loop */
static void
return_list (GResolver           *resolver,
             GList               *list,
             GError              *error,
             GDestroyNotify       free_list,
             GCancellable        *cancellable,
             GAsyncReadyCallback  callback,
             gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (resolver, cancellable, callback, user_data);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, list, free_list);
}

static void
fake_lookup_service_async (GResolver           *resolver,
                           const char          *rrname,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  GError *error = NULL;
  GList *list = fake_lookup_service (resolver, rrname, cancellable, &error);

  return_list (resolver, list, error, (GDestroyNotify) g_resolver_free_targets,
               cancellable, callback, user_data);
}

static void
fake_lookup_by_name_with_flags_async (GResolver                *resolver,
                                      const char               *hostname,
                                      GResolverNameLookupFlags  flags,
                                      GCancellable             *cancellable,
                                      GAsyncReadyCallback       callback,
                                      gpointer                  user_data)
{
  GError *error = NULL;
  GList *list = fake_lookup_by_name_with_flags (resolver, hostname, flags,
                                                cancellable, &error);

  return_list (resolver, list, error, (GDestroyNotify) g_resolver_free_addresses,
               cancellable, callback, user_data);
}

static void
fake_lookup_by_name_async (GResolver           *resolver,
                           const char          *hostname,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  fake_lookup_by_name_with_flags_async (resolver, hostname,
                                        G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
                                        cancellable, callback, user_data);
}

static GList *
fake_lookup_finish (GResolver     *resolver,
                    GAsyncResult  *result,
                    GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
fake_resolver_class_init (FakeResolverClass *klass)
{
  GResolverClass *resolver_class = G_RESOLVER_CLASS (klass);

  resolver_class->lookup_by_name = fake_lookup_by_name;
  resolver_class->lookup_by_name_async = fake_lookup_by_name_async;
  resolver_class->lookup_by_name_finish = fake_lookup_finish;
  resolver_class->lookup_by_name_with_flags = fake_lookup_by_name_with_flags;
  resolver_class->lookup_by_name_with_flags_async = fake_lookup_by_name_with_flags_async;
  resolver_class->lookup_by_name_with_flags_finish = fake_lookup_finish;
  resolver_class->lookup_service = fake_lookup_service;
  resolver_class->lookup_service_async = fake_lookup_service_async;
  resolver_class->lookup_service_finish = fake_lookup_finish;
}

static void
fake_resolver_init (FakeResolver *self)
{
}

/* ---------------------------------------------------------------------- */
/* Helpers */

typedef struct
{
  GResolver *saved;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GResolver) fake = g_object_new (fake_resolver_get_type (), NULL);

  fixture->saved = g_resolver_get_default ();
  g_resolver_set_default (fake);
  records = g_ptr_array_new_with_free_func ((GDestroyNotify) record_free);
  srv_lookups = 0;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_resolver_set_default (fixture->saved);
  g_clear_object (&fixture->saved);
  g_clear_pointer (&records, g_ptr_array_unref);
}

static void
on_discovered (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  gpointer *out = user_data;
  GError *error = NULL;

  out[0] = smtp_client_session_new_for_domain_finish (result, &error);
  out[1] = error;
  out[2] = GINT_TO_POINTER (TRUE);
}

/* The session for @domain, or NULL and @error */
static SmtpClientSession *
discover (const char  *domain,
          GError     **error)
{
  gpointer out[3] = { NULL, NULL, NULL };
  gint64 deadline = g_get_monotonic_time () + SMTP_TEST_WAIT_SECONDS * G_USEC_PER_SEC;

  smtp_client_session_new_for_domain_async (domain, NULL, on_discovered, out);
  while (out[2] == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (out[2]);
  if (out[1] != NULL)
    g_propagate_error (error, out[1]);
  return out[0];
}

static char *
session_server (SmtpClientSession *session,
                guint             *port,
                SmtpClientSecurity *security)
{
  char *server = NULL;

  g_object_get (session, "server", &server, "port", port, "security", security, NULL);
  return server;
}

/* Send one message through @session; TRUE when it was delivered */
static gboolean
deliver (SmtpClientSession  *session,
         GError            **error)
{
  g_autoptr(GTlsDatabase) database = smtp_test_cert_database ();
  g_autoptr(SmtpClientTask) task = smtp_test_task_new (0, NULL);
  gboolean ok;

  g_object_set (session, "tls-database", database, "timeout", 10,
                "max-retries", 0, NULL);
  g_object_set (task, "session", session, NULL);
  ok = smtp_test_run_task (task, error);
  smtp_test_close_session (session);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Tests */

static void
test_submissions_first (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(SmtpTestScriptServer) tls =
    smtp_test_script_server_new ("TLS\n" GREETING "SERVE PIPELINING\n");
  g_autoptr(SmtpTestScriptServer) starttls =
    smtp_test_script_server_new (GREETING "SERVE PIPELINING STARTTLS\n");
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *server = NULL;
  guint port;
  SmtpClientSecurity security;
  g_autoptr(GPtrArray) messages = NULL;

  g_test_summary ("Both services published: _submissions (implicit TLS) "
                  "wins, and the session it makes delivers over TLS");

  add_record ("_submission._tcp.example.test", 0, 1,
              smtp_test_script_server_get_port (starttls), "mail.example.test");
  add_record ("_submissions._tcp.example.test", 0, 1,
              smtp_test_script_server_get_port (tls), "mail.example.test");

  session = discover ("example.test", &error);
  g_assert_no_error (error);
  server = session_server (session, &port, &security);
  g_assert_cmpstr (server, ==, "mail.example.test");
  g_assert_cmpuint (port, ==, smtp_test_script_server_get_port (tls));
  g_assert_cmpint (security, ==, SMTP_CLIENT_SECURITY_TLS);

  g_assert_true (deliver (session, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (tls, 1);
  messages = smtp_test_script_server_get_messages (tls);
  g_assert_cmpuint (messages->len, ==, 1);
  g_assert_cmpuint (smtp_test_script_server_get_n_connections (starttls), ==, 0);
}

static void
test_submission_only (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(SmtpTestScriptServer) starttls =
    smtp_test_script_server_new (GREETING "SERVE PIPELINING STARTTLS\n");
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *server = NULL;
  guint port;
  SmtpClientSecurity security;
  g_auto(GStrv) commands = NULL;

  g_test_summary ("Only _submission published (and _submissions says \".\": "
                  "not offered): STARTTLS, required, and it delivers");

  add_record ("_submissions._tcp.example.test", 0, 0, 0, ".");
  add_record ("_submission._tcp.example.test", 0, 1,
              smtp_test_script_server_get_port (starttls), "mail.example.test");

  session = discover ("example.test", &error);
  g_assert_no_error (error);
  server = session_server (session, &port, &security);
  g_assert_cmpuint (port, ==, smtp_test_script_server_get_port (starttls));
  g_assert_cmpint (security, ==, SMTP_CLIENT_SECURITY_STARTTLS);
  g_assert_cmpuint (srv_lookups, ==, 2);

  g_assert_true (deliver (session, &error));
  g_assert_no_error (error);
  smtp_test_script_server_wait (starttls, 1);
  commands = smtp_test_script_server_get_commands (starttls, 0);
  g_assert_true (smtp_test_strv_has (commands, "STARTTLS"));
}

static void
test_none (Fixture       *fixture,
           gconstpointer  data)
{
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("Neither service published: CONFIGURE, naming the domain");

  add_record ("_imaps._tcp.example.test", 0, 1, 993, "mail.example.test");
  session = discover ("example.test", &error);
  g_assert_null (session);
  g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
  g_assert_nonnull (strstr (error->message, "example.test"));
  g_assert_cmpuint (srv_lookups, ==, 2);
}

static void
test_bad_domain (Fixture       *fixture,
                 gconstpointer  data)
{
  static const char *const bad[] = { "", "127.0.0.1", "exa mple.test",
                                     "a/b.test", "x\r\ny.test" };

  g_test_summary ("What is not a domain is refused with CONFIGURE, "
                  "without a lookup");

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmtpClientSession) session = discover (bad[i], &error);

      g_assert_null (session);
      g_assert_error (error, SMTP_CLIENT_ERROR, SMTP_CLIENT_ERROR_CONFIGURE);
    }
  g_assert_cmpuint (srv_lookups, ==, 0);
}

static void
test_idn (Fixture       *fixture,
          gconstpointer  data)
{
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *server = NULL;
  guint port;
  SmtpClientSecurity security;

  g_test_summary ("An internationalised domain is looked up in its "
                  "ASCII form (IDNA)");

  add_record ("_submissions._tcp.xn--bcher-kva.test", 0, 1, 4465,
              "mail.xn--bcher-kva.test");
  session = discover ("b\xc3\xbc" "cher.test", &error);
  g_assert_no_error (error);
  server = session_server (session, &port, &security);
  g_assert_cmpstr (server, ==, "mail.xn--bcher-kva.test");
  g_assert_cmpuint (port, ==, 4465);
}

static void
test_priority (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  g_test_summary ("The lowest priority value wins, whatever the order of "
                  "the records (RFC 2782)");

  add_record ("_submissions._tcp.example.test", 30, 100, 4003, "c.example.test");
  add_record ("_submissions._tcp.example.test", 10, 1, 4001, "a.example.test");
  add_record ("_submissions._tcp.example.test", 20, 100, 4002, "b.example.test");

  for (guint i = 0; i < 10; i++)
    {
      g_autoptr(SmtpClientSession) session = discover ("example.test", &error);
      g_autofree char *server = NULL;
      guint port;
      SmtpClientSecurity security;

      g_assert_no_error (error);
      server = session_server (session, &port, &security);
      g_assert_cmpstr (server, ==, "a.example.test");
      g_assert_cmpuint (port, ==, 4001);
    }
}

static void
test_weight (Fixture       *fixture,
             gconstpointer  data)
{
  guint heavy = 0;
  const guint rounds = 60;

  g_test_summary ("Among equal priorities, the weights share the choices "
                  "(RFC 2782): weight 1 against 99, over 60 discoveries, "
                  "the heavy one nearly always (the chance of fewer than 40 "
                  "is below 1e-20)");

  add_record ("_submissions._tcp.example.test", 10, 1, 4001, "light.example.test");
  add_record ("_submissions._tcp.example.test", 10, 99, 4002, "heavy.example.test");

  for (guint i = 0; i < rounds; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(SmtpClientSession) session = discover ("example.test", &error);
      guint port;

      g_assert_no_error (error);
      g_object_get (session, "port", &port, NULL);
      g_assert_true (port == 4001 || port == 4002);
      heavy += port == 4002;
    }
  g_test_message ("heavy target chosen %u times of %u", heavy, rounds);
  g_assert_cmpuint (heavy, >=, 40);
}

typedef struct
{
  const char *domain;
  const char *target;
  gboolean    delivers;
} NameCase;

static void
test_certificate_name (Fixture       *fixture,
                       gconstpointer  data)
{
  const NameCase *c = data;
  g_autoptr(SmtpTestScriptServer) tls =
    smtp_test_script_server_new ("TLS\n" GREETING "SERVE PIPELINING\n");
  g_autofree char *rrname = g_strconcat ("_submissions._tcp.", c->domain, NULL);
  g_autoptr(SmtpClientSession) session = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("The certificate is checked against the SRV target only "
                  "when the target is in the domain; otherwise against the "
                  "domain (RFC 6186 §6): a forged record cannot lead the "
                  "client to a server that has a certificate for its own "
                  "name only");

  add_record (rrname, 0, 1, smtp_test_script_server_get_port (tls), c->target);
  session = discover (c->domain, &error);
  g_assert_no_error (error);

  if (c->delivers)
    {
      g_assert_true (deliver (session, &error));
      g_assert_no_error (error);
      smtp_test_script_server_wait (tls, 1);
    }
  else
    {
      g_autoptr(GPtrArray) messages = NULL;

      g_assert_false (deliver (session, &error));
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_true (error->domain == G_TLS_ERROR);
      messages = smtp_test_script_server_get_messages (tls);
      g_assert_cmpuint (messages->len, ==, 0);
    }
}

static const NameCase name_cases[] = {
  /* in the domain, and in the certificate */
  { "example.test", "mail.example.test", TRUE },
  /* outside the domain: checked against example.test, in the certificate */
  { "example.test", "smtp.provider.test", TRUE },
  /* in the domain, but not in the certificate */
  { "example.test", "other.example.test", FALSE },
  /* outside the domain: checked against elsewhere.test, not in the
   * certificate, although the target mail.example.test is */
  { "elsewhere.test", "mail.example.test", FALSE },
};

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func, data) \
  g_test_add ("/discovery/" path, Fixture, data, fixture_set_up, func, fixture_tear_down)

  ADD ("submissions-first", test_submissions_first, NULL);
  ADD ("submission-only", test_submission_only, NULL);
  ADD ("none", test_none, NULL);
  ADD ("bad-domain", test_bad_domain, NULL);
  ADD ("idn", test_idn, NULL);
  ADD ("priority", test_priority, NULL);
  ADD ("weight", test_weight, NULL);
  ADD ("certificate/target-in-domain", test_certificate_name, &name_cases[0]);
  ADD ("certificate/target-outside-domain", test_certificate_name, &name_cases[1]);
  ADD ("certificate/target-not-in-certificate", test_certificate_name, &name_cases[2]);
  ADD ("certificate/domain-not-in-certificate", test_certificate_name, &name_cases[3]);

#undef ADD

  return g_test_run ();
}
