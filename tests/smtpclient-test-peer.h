/* smtpclient-test-peer.h: a server played from memory, for driving the
 * engine without sockets (engine tests, the engine fuzzer)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The peer gives the client a GIOStream whose two ends are pollable
 * memory streams.  What the server says is a list of chunks; the driver
 * releases them one at a time (smtp_test_peer_release()), typically each
 * time the client has nothing left to do, so that a reply comes after the
 * command it answers.  When every chunk has been released and read, the
 * input ends.  What the client writes is kept.
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _SmtpTestPeer SmtpTestPeer;

SmtpTestPeer *smtp_test_peer_new       (void);
void          smtp_test_peer_free      (SmtpTestPeer *peer);

/* Add a chunk the server will say */
void          smtp_test_peer_add       (SmtpTestPeer *peer,
                                        const void   *data,
                                        gsize         length);

/* The chunks of @text separated by @separator (each chunk without it) */
void          smtp_test_peer_add_split (SmtpTestPeer *peer,
                                        const guint8 *data,
                                        gsize         length,
                                        guint8        separator);

/* The client's end: input what the server says, output to the server */
GIOStream    *smtp_test_peer_get_stream (SmtpTestPeer *peer);

/* Let the client read the next chunk; FALSE when there was none left
 * (the input then ends once what was released is read) */
gboolean      smtp_test_peer_release   (SmtpTestPeer *peer);

/* Everything the client wrote so far */
GBytes       *smtp_test_peer_get_written (SmtpTestPeer *peer);

/* Iterate the thread-default main context until @done (@data) is TRUE;
 * whenever nothing is left to do, release the next chunk.  At most
 * @max_iterations turns: FALSE if @done never came. */
gboolean      smtp_test_peer_drive     (SmtpTestPeer *peer,
                                        gboolean    (*done) (gpointer data),
                                        gpointer      data,
                                        guint         max_iterations);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SmtpTestPeer, smtp_test_peer_free)

/* What the engine reported through its hooks, checked as it comes: each
 * transaction finishes once, with a delivery state, an error exactly when
 * it was not accepted, a reply that is valid and escaped, and never after
 * the connection closed */
typedef struct
{
  guint      ready;
  guint      finished;
  guint      closed;
  GPtrArray *errors;    /* of GError*, NULL for an accepted one */
} SmtpTestEngineReport;

/* The hooks to give smtp_client_connection_new() with a report as data
 * (a const SmtpClientConnectionHooks *; void here so that this header
 * needs no private one) */
const void   *smtp_test_engine_hooks     (void);
void          smtp_test_engine_report_init  (SmtpTestEngineReport *report);
void          smtp_test_engine_report_clear (SmtpTestEngineReport *report);
/* For smtp_test_peer_drive(): the connection has closed */
gboolean      smtp_test_engine_is_closed (gpointer report);

G_END_DECLS
