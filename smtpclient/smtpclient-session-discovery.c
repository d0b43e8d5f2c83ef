/* smtpclient-session-discovery.c: a session for a mail domain, found with
 * SRV records (RFC 6186, RFC 8314)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <string.h>

#include "smtpclient-error.h"
#include "smtpclient-reply-private.h"
#include "smtpclient-private.h"
#include "smtpclient-session-private.h"
#include "smtpclient-session.h"

/* The services tried, in order: implicit TLS first (RFC 8314 §5.1) */
static const struct
{
  const char         *service;
  SmtpClientSecurity  security;
} services[] = {
  { "submissions", SMTP_CLIENT_SECURITY_TLS },
  { "submission", SMTP_CLIENT_SECURITY_STARTTLS },
};

typedef struct
{
  char  *domain;
  guint  step;
} Discovery;

static void
discovery_free (Discovery *discovery)
{
  g_free (discovery->domain);
  g_free (discovery);
}

static void lookup_next (GTask *task);

/* Without the root's trailing dot, lower-cased */
static char *
normalize_name (const char *name)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);
  gsize length = strlen (lower);

  while (length > 0 && lower[length - 1] == '.')
    lower[--length] = '\0';

  return g_steal_pointer (&lower);
}

/* @host is @domain or a name under it (RFC 6186 §6: only then may the
 * certificate be checked against the name the SRV record gives) */
static gboolean
is_in_domain (const char *host,
              const char *domain)
{
  g_autofree char *h = normalize_name (host);
  g_autofree char *d = normalize_name (domain);
  gsize hl = strlen (h);
  gsize dl = strlen (d);

  if (g_str_equal (h, d))
    return TRUE;

  return hl > dl && h[hl - dl - 1] == '.' && g_str_equal (h + hl - dl, d);
}

static void
on_service_found (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Discovery *discovery = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  GList *targets;
  SmtpClientSession *session = NULL;

  targets = g_resolver_lookup_service_finish (G_RESOLVER (source), result,
                                              &error);
  if (error != NULL &&
      !g_error_matches (error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_NOT_FOUND))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* By priority, and by weight at random (RFC 2782): GLib's own resolver
   * sorts, but the default resolver may be any GResolver.  A target of
   * "." says the service is not offered. */
  targets = g_srv_target_list_sort (targets);
  for (GList *l = targets; l != NULL && session == NULL; l = l->next)
    {
      GSrvTarget *target = l->data;
      const char *host = g_srv_target_get_hostname (target);
      g_autofree char *name = normalize_name (host);

      if (*name == '\0' || g_srv_target_get_port (target) == 0)
        continue;

      session = g_object_new (SMTP_CLIENT_TYPE_SESSION,
                              "server", name,
                              "port", (guint) g_srv_target_get_port (target),
                              "security", services[discovery->step].security,
                              NULL);
      if (!is_in_domain (name, discovery->domain))
        smtp_client_session_set_tls_name (session, discovery->domain);
    }
  g_resolver_free_targets (targets);

  if (session != NULL)
    {
      g_task_return_pointer (task, session, g_object_unref);
      return;
    }

  discovery->step++;
  lookup_next (g_steal_pointer (&task));
}

static void
lookup_next (GTask *task)
{
  Discovery *discovery = g_task_get_task_data (task);
  g_autoptr(GResolver) resolver = NULL;

  if (discovery->step == G_N_ELEMENTS (services))
    {
      g_task_return_new_error (task, SMTP_CLIENT_ERROR,
                               SMTP_CLIENT_ERROR_CONFIGURE,
                               _("No mail submission server is published "
                                 "for %s (no _submissions._tcp or "
                                 "_submission._tcp SRV record)"),
                               discovery->domain);
      g_object_unref (task);
      return;
    }

  resolver = g_resolver_get_default ();
  g_resolver_lookup_service_async (resolver, services[discovery->step].service,
                                   "tcp", discovery->domain,
                                   g_task_get_cancellable (task),
                                   on_service_found, task);
}

/**
 * smtp_client_session_new_for_domain_async:
 * @domain: a mail domain, such as `example.org`
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the session is ready, or not
 * @user_data: data for @callback
 *
 * Finds the mail submission server of @domain the way RFC 6186 and
 * RFC 8314 say, so that nobody has to type a host name, a port and a
 * security mode (and get them wrong): it looks up the SRV record
 * `_submissions._tcp.DOMAIN` (implicit TLS), then
 * `_submission._tcp.DOMAIN` (`STARTTLS`, required), honouring their
 * priorities and weights, and makes a session for the server found, with
 * [property@SmtpClient.Session:security] set accordingly.
 *
 * The server's certificate is checked against the name the SRV record
 * gives only when that name is in @domain (`smtp.example.org` for
 * `example.org`); otherwise against @domain itself (RFC 6186 §6): a
 * forged SRV record cannot send the credentials elsewhere.
 *
 * Set the credentials on the session before sending
 * ([property@SmtpClient.Session:auth-user] and
 * [property@SmtpClient.Session:auth-password]).
 *
 * Since: 1.0
 */
void
smtp_client_session_new_for_domain_async (const char          *domain,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data)
{
  GTask *task;
  Discovery *discovery;
  g_autofree char *ascii = NULL;

  g_return_if_fail (domain != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  smtp_client_init_i18n ();

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, smtp_client_session_new_for_domain_async);

  /* An internationalised domain is looked up in its ASCII (IDNA) form */
  ascii = *domain != '\0' && strpbrk (domain, " \t\r\n/") == NULL &&
          !g_hostname_is_ip_address (domain)
          ? g_hostname_to_ascii (domain) : NULL;
  if (ascii == NULL || *ascii == '\0')
    {
      g_autofree char *shown = smtp_client_text_escape (domain, -1);

      g_task_return_new_error (task, SMTP_CLIENT_ERROR,
                               SMTP_CLIENT_ERROR_CONFIGURE,
                               _("“%s” is not a mail domain"), shown);
      g_object_unref (task);
      return;
    }

  discovery = g_new0 (Discovery, 1);
  discovery->domain = g_steal_pointer (&ascii);
  g_task_set_task_data (task, discovery, (GDestroyNotify) discovery_free);
  lookup_next (task);
}

/**
 * smtp_client_session_new_for_domain_finish:
 * @result: the #GAsyncResult passed to the callback
 * @error: return location for a #GError
 *
 * Finishes [func@SmtpClient.Session.new_for_domain_async].
 *
 * Returns: (transfer full): the session, or %NULL with
 *   %SMTP_CLIENT_ERROR_CONFIGURE when @domain publishes no submission
 *   server (or with the resolver's error, or %G_IO_ERROR_CANCELLED)
 *
 * Since: 1.0
 */
SmtpClientSession *
smtp_client_session_new_for_domain_finish (GAsyncResult  *result,
                                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  g_return_val_if_fail (g_async_result_is_tagged (result,
                                                  smtp_client_session_new_for_domain_async),
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
