/* smtpclient-send-private.h: the parts of smtpclient-send that are not
 * its main(): the -t header reader and the stream it hands on
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The most a message header may have for -t, in bytes */
#define SMTP_CLIENT_SEND_HEADER_LIMIT (1024 * 1024)

/* Appends the addr-specs of an RFC 5322 address list ("Name <addr>", bare
 * addresses, comments, quoted strings, groups, obsolete source routes) to
 * @recipients (of char*), skipping those already there. */
void          smtp_client_send_add_address_list (const char *value,
                                                 GPtrArray  *recipients);

/* Reads the header block of @input (up to and including the empty line,
 * or the first line that is not a header field; blocking), adds the
 * recipients of its To, Cc and Bcc fields to @recipients, and returns a
 * stream that gives the same message without the Bcc field: the header
 * from memory, then the rest of @input. */
GInputStream *smtp_client_send_read_recipients  (GInputStream  *input,
                                                 GPtrArray     *recipients,
                                                 GError       **error);

/* A stream that reads @first to its end, then @second */
GInputStream *smtp_client_send_concat_stream_new (GInputStream *first,
                                                  GInputStream *second);

G_END_DECLS
