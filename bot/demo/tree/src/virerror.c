/*
 * virerror.c: error handling and reporting code for libvirt
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <stdarg.h>

#include "internal.h"
#include "datatypes.h"
#include "virerror.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_NONE

/* demovirt is single threaded: one error object for the whole process */
static virError virLastErr;


static void
virErrorGenericFailure(virErrorPtr err)
{
    err->code = VIR_ERR_INTERNAL_ERROR;
    err->domain = VIR_FROM_NONE;
    err->level = VIR_ERR_ERROR;
    err->message = strdup(_("An error occurred, but the cause is unknown"));
}


static int
virCopyError(virErrorPtr from,
             virErrorPtr to)
{
    virResetError(to);
    if (!from)
        return 0;

    to->code = from->code;
    to->domain = from->domain;
    to->level = from->level;
    if (from->message)
        to->message = strdup(from->message);
    return 0;
}


/**
 * virResetError:
 * @err: pointer to the virError to clean up
 *
 * Reset the error being pointed to
 */
void
virResetError(virErrorPtr err)
{
    if (err == NULL)
        return;
    free(err->message);
    memset(err, 0, sizeof(virError));
}


/**
 * virGetLastError:
 *
 * Provide a pointer to the last error caught at the library level
 *
 * The error object is kept in thread local storage, so separate
 * threads can safely access this concurrently.
 *
 * Returns a pointer to the last error or NULL if none occurred.
 *
 * Since: 0.1.0
 */
virErrorPtr
virGetLastError(void)
{
    if (virLastErr.code == VIR_ERR_OK)
        return NULL;
    return &virLastErr;
}


/**
 * virGetLastErrorMessage:
 *
 * Get the most recent error message
 *
 * Returns the most recent error message string in this
 * thread, or a generic message if none is set
 *
 * Since: 1.0.6
 */
const char *
virGetLastErrorMessage(void)
{
    if (virLastErr.code == VIR_ERR_OK)
        return _("no error");
    if (!virLastErr.message)
        return _("unknown error");
    return virLastErr.message;
}


/**
 * virCopyLastError:
 * @to: target to receive the copy
 *
 * Copy the content of the last error caught at the library level
 *
 * Returns error code or -1 in case of parameter error.
 */
int
virCopyLastError(virErrorPtr to)
{
    if (!to)
        return -1;
    virCopyError(&virLastErr, to);
    return to->code;
}


/**
 * virResetLastError:
 *
 * Reset the last error caught at the library level.
 *
 * The error object is kept in thread local storage, so separate
 * threads can safely access this concurrently, only resetting
 * their own error object.
 *
 * Since: 0.1.0
 */
void
virResetLastError(void)
{
    virResetError(&virLastErr);
}


/**
 * virDispatchError:
 * @conn: pointer to the hypervisor connection
 *
 * Internal helper to do final stage of error
 * reporting in public APIs.
 *
 * - Copy the global error to per-connection error if needed
 * - Set a generic error message if none is already set
 */
void
virDispatchError(virConnectPtr conn)
{
    /* Set a generic error message if none is already set */
    if (virLastErr.code == VIR_ERR_OK)
        virErrorGenericFailure(&virLastErr);

    /* Copy the global error to per-connection error if needed */
    if (conn)
        virCopyError(&virLastErr, &conn->err);
}


/**
 * virReportErrorHelper:
 *
 * @domcode: the virErrorDomain indicating where it's coming from
 * @errorcode: the virErrorNumber code for the error
 * @filename: Source file error is dispatched from
 * @funcname: Function error is dispatched from
 * @linenr: Line number error is dispatched from
 * @fmt:  the format string
 * @...:  extra parameters for the message display
 *
 * Helper function to do most of the grunt work for individual driver
 * ReportError
 */
void
virReportErrorHelper(int domcode,
                     int errcode,
                     const char *filename,
                     const char *funcname,
                     size_t linenr,
                     const char *fmt, ...)
{
    char msg[1024];
    va_list args;

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    virResetError(&virLastErr);
    virLastErr.code = errcode;
    virLastErr.domain = domcode;
    virLastErr.level = VIR_ERR_ERROR;
    virLastErr.message = strdup(msg);

    VIR_DEBUG("error at %s:%zu (%s): %s", filename, linenr, funcname, msg);
}
