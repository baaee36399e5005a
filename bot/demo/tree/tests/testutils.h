/*
 * testutils.h: test utils
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>

#ifndef ATTRIBUTE_UNUSED
# define ATTRIBUTE_UNUSED __attribute__((__unused__))
#endif

/* Fails the current test case with a message naming the condition. */
#define TEST_CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s\n", \
                    __FILE__, __LINE__, #cond); \
            goto cleanup; \
        } \
    } while (0)

/* The last error is set, and has this code. */
#define TEST_CHECK_ERROR(errcode) \
    TEST_CHECK(virGetLastError() && virGetLastError()->code == (errcode))

int virTestRun(const char *title,
               int (*body)(const void *data),
               const void *data);

int virTestMain(const char *name, int (*func)(void));

virConnectPtr virTestOpenDefault(bool readonly);

#define VIR_TEST_MAIN(func) \
    int main(int argc, char **argv) \
    { \
        (void)argc; \
        return virTestMain(argv[0], func); \
    }
