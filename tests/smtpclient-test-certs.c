/* smtpclient-test-certs.c: throwaway certificates for the TLS tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "smtpclient-test-certs.h"
#include "smtpclient-test-utils.h"

#include <glib/gstdio.h>

/* openssl makes a dozen EC keys and certificates in well under a second;
 * this bounds a stuck run. */
#define MAKE_CERTS_WAIT_SECONDS SMTP_TEST_WAIT_SECONDS

static char *certs_directory;

typedef struct
{
  gboolean  done;
  gboolean  ok;
  GError   *error;
} Run;

static void
on_make_certs_done (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Run *run = user_data;

  run->ok = g_subprocess_wait_check_finish (G_SUBPROCESS (source), result,
                                            &run->error);
  run->done = TRUE;
}

static gboolean
on_timeout_cancel (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

static char *
get_make_certs_script (void)
{
  const char *directory = g_getenv ("SMTPCLIENT_TEST_SERVERS");

  if (directory != NULL && *directory != '\0')
    return g_build_filename (directory, "make-certs.sh", NULL);

  return g_test_build_filename (G_TEST_DIST, "servers", "make-certs.sh",
                                NULL);
}

static void
make_certs (const char *directory)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GSource) timeout = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *script = get_make_certs_script ();
  Run run = { FALSE, FALSE, NULL };

  if (g_mkdir_with_parents (directory, 0700) != 0)
    g_error ("cannot create %s", directory);

  /* Its standard output would mix with the TAP stream; its errors are on
   * standard error. */
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
                              "/bin/sh", script, directory, NULL);
  if (process == NULL)
    g_error ("cannot run %s: %s", script, error->message);

  g_main_context_push_thread_default (context);
  g_subprocess_wait_check_async (process, cancellable, on_make_certs_done,
                                 &run);
  timeout = g_timeout_source_new_seconds (MAKE_CERTS_WAIT_SECONDS);
  g_source_set_callback (timeout, on_timeout_cancel, cancellable, NULL);
  g_source_attach (timeout, context);
  while (!run.done)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timeout);
  g_main_context_pop_thread_default (context);

  if (!run.ok)
    {
      g_subprocess_force_exit (process);
      g_error ("%s %s failed: %s", script, directory,
               run.error != NULL ? run.error->message : "?");
    }
}

char *
smtp_test_cert_path (const char *name)
{
  static gsize initialized = 0;

  g_return_val_if_fail (name != NULL, NULL);

  if (g_once_init_enter (&initialized))
    {
      certs_directory = smtp_test_tmp_path ("certs");
      make_certs (certs_directory);
      g_once_init_leave (&initialized, 1);
    }

  return g_build_filename (certs_directory, name, NULL);
}

GTlsDatabase *
smtp_test_cert_database (void)
{
  g_autofree char *path = smtp_test_cert_path ("ca.pem");
  g_autoptr(GError) error = NULL;
  GTlsDatabase *database;

  database = g_tls_file_database_new (path, &error);
  if (database == NULL)
    g_error ("cannot load %s: %s", path, error->message);

  return database;
}

GTlsCertificate *
smtp_test_cert_load (const char *base)
{
  g_autofree char *pem = g_strconcat (base, ".pem", NULL);
  g_autofree char *key = g_strconcat (base, ".key", NULL);
  g_autofree char *pem_path = smtp_test_cert_path (pem);
  g_autofree char *key_path = smtp_test_cert_path (key);
  g_autoptr(GError) error = NULL;
  GTlsCertificate *certificate;

  certificate = g_tls_certificate_new_from_files (pem_path, key_path, &error);
  if (certificate == NULL)
    g_error ("cannot load %s: %s", pem_path, error->message);

  return certificate;
}

char *
smtp_test_cert_fingerprint (const char *base)
{
  g_autofree char *pem = g_strconcat (base, ".pem", NULL);
  g_autofree char *path = smtp_test_cert_path (pem);
  g_autoptr(GTlsCertificate) certificate = NULL;
  g_autoptr(GByteArray) der = NULL;
  g_autoptr(GError) error = NULL;

  certificate = g_tls_certificate_new_from_file (path, &error);
  if (certificate == NULL)
    g_error ("cannot load %s: %s", path, error->message);

  g_object_get (certificate, "certificate", &der, NULL);
  g_assert_nonnull (der);

  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, der->data, der->len);
}
