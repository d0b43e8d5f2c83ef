/* smtpclient.h: libsmtpclient, an asynchronous SMTP/ESMTP client for GLib
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#define __SMTPCLIENT_INSIDE__

#include "smtpclient-version.h"
#include "smtpclient-version-macros.h"
#include "smtpclient-enums.h"
#include "smtpclient-enum-types.h"
#include "smtpclient-error.h"
#include "smtpclient-session.h"
#include "smtpclient-task.h"

#undef __SMTPCLIENT_INSIDE__
