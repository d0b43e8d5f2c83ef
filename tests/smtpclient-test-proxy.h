/* smtpclient-test-proxy.h: a TCP proxy that injects faults, for the chaos
 * test
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The proxy listens on 127.0.0.1 (a free port) and relays each
 * connection to a backend port.  With a seeded random generator it
 * chooses, for each connection, whether and where it fails: after a
 * random number of bytes in one direction (so at any stage of the SMTP
 * conversation), it closes both ends (FIN), resets the client's (RST), or
 * stops relaying and holds the connection until the client gives up
 * (a stall).  Each connection is relayed in a thread of its own with
 * blocking, bounded I/O.
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SmtpTestProxy SmtpTestProxy;

typedef enum
{
  SMTP_TEST_FAULT_NONE,
  SMTP_TEST_FAULT_CLOSE,
  SMTP_TEST_FAULT_RESET,
  SMTP_TEST_FAULT_STALL,
  SMTP_TEST_N_FAULTS
} SmtpTestFault;

/* @fault_percent of the connections fail, each somewhere in its first
 * @max_offset bytes of one direction */
SmtpTestProxy *smtp_test_proxy_new  (guint   backend_port,
                                     guint32 seed,
                                     guint   fault_percent,
                                     guint   max_offset);
void           smtp_test_proxy_free (SmtpTestProxy *proxy);

guint          smtp_test_proxy_get_port (SmtpTestProxy *proxy);

/* Connections accepted so far, and how many of them ended with each
 * fault (SMTP_TEST_FAULT_NONE: relayed to their end) */
guint          smtp_test_proxy_get_n_connections (SmtpTestProxy *proxy);
guint          smtp_test_proxy_get_n_faults      (SmtpTestProxy *proxy,
                                                  SmtpTestFault  fault);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpTestProxy, smtp_test_proxy_free)

G_END_DECLS
