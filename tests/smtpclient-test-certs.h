/* smtpclient-test-certs.h: throwaway certificates for the TLS tests,
 * made at test time by tests/servers/make-certs.sh (see the list of files
 * at the top of that script).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The path of @name (e.g. "server.pem", "ca.pem") in the certificate
 * directory.  The first call runs make-certs.sh (a bounded wait) into a
 * directory under smtp_test_tmp_path(), removed when the test program
 * ends; a failure there is fatal (g_error). */
char            *smtp_test_cert_path       (const char *name);

/* A GTlsDatabase that trusts the test CA (ca.pem) only. */
GTlsDatabase    *smtp_test_cert_database   (void);

/* The certificate and key of @base (e.g. "client" for client.pem and
 * client.key). */
GTlsCertificate *smtp_test_cert_load       (const char *base);

/* The SHA-256 fingerprint of @base.pem's certificate (DER), lower-case
 * hexadecimal without separators. */
char            *smtp_test_cert_fingerprint (const char *base);

G_END_DECLS
