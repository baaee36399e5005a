/*
 * virerror.h: error handling and reporting code for libvirt
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

void virReportErrorHelper(int domcode,
                          int errcode,
                          const char *filename,
                          const char *funcname,
                          size_t linenr,
                          const char *fmt, ...)
    ATTRIBUTE_FMT_PRINTF(6, 7);

void virDispatchError(virConnectPtr conn);

int virCopyLastError(virErrorPtr to);
void virResetError(virErrorPtr err);

#define virReportError(code, ...) \
    virReportErrorHelper(VIR_FROM_THIS, code, __FILE__, \
                         __FUNCTION__, __LINE__, __VA_ARGS__)

#define virReportOOMError() \
    virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_NO_MEMORY, __FILE__, \
                         __FUNCTION__, __LINE__, "%s", \
                         _("out of memory"))

#define virReportUnsupportedError() \
    virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_NO_SUPPORT, \
                         __FILE__, __FUNCTION__, __LINE__, \
                         _("this function is not supported by the connection driver: %s"), \
                         __FUNCTION__)

#define virReportRestrictedError(...) \
    virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_OPERATION_DENIED, \
                         __FILE__, __FUNCTION__, __LINE__, __VA_ARGS__)

#define virReportInvalidArg(argname, ...) \
    virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_INVALID_ARG, \
                         __FILE__, __FUNCTION__, __LINE__, __VA_ARGS__)

#define virReportInvalidNonNullArg(argname) \
    virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_INVALID_ARG, \
                         __FILE__, __FUNCTION__, __LINE__, \
                         _("%s in %s must not be NULL"), \
                         #argname, __FUNCTION__)
