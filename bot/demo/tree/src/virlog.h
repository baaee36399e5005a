/*
 * virlog.h: internal logging and debugging
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

typedef enum {
    VIR_LOG_DEBUG = 1,
    VIR_LOG_INFO,
    VIR_LOG_WARN,
    VIR_LOG_ERROR,
} virLogPriority;

void virLogMessage(virLogPriority priority,
                   const char *filename,
                   size_t linenr,
                   const char *funcname,
                   const char *fmt, ...)
    ATTRIBUTE_FMT_PRINTF(5, 6);

#define VIR_DEBUG(...) \
    virLogMessage(VIR_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define VIR_INFO(...) \
    virLogMessage(VIR_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define VIR_WARN(...) \
    virLogMessage(VIR_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
