/*
 * datatypes.h: management of structs for public data types
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "driver.h"
#include "virerror.h"

#define VIR_CONNECT_MAGIC 0x4F23DEAD
#define VIR_DOMAIN_MAGIC  0xDEAD4321

#define VIR_IS_CONNECT(obj) \
    ((obj) && (obj)->magic == VIR_CONNECT_MAGIC)
#define VIR_IS_DOMAIN(obj) \
    ((obj) && (obj)->magic == VIR_DOMAIN_MAGIC)
#define VIR_IS_CONNECTED_DOMAIN(obj) \
    (VIR_IS_DOMAIN(obj) && VIR_IS_CONNECT((obj)->conn))

#define virCheckConnectReturn(obj, retval) \
    do { \
        if (!VIR_IS_CONNECT(obj)) { \
            virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_INVALID_CONN, \
                                 __FILE__, __FUNCTION__, __LINE__, \
                                 "%s", __FUNCTION__); \
            virDispatchError(NULL); \
            return retval; \
        } \
    } while (0)

#define virCheckConnectGoto(obj, label) \
    do { \
        if (!VIR_IS_CONNECT(obj)) { \
            virReportErrorHelper(VIR_FROM_THIS, VIR_ERR_INVALID_CONN, \
                                 __FILE__, __FUNCTION__, __LINE__, \
                                 "%s", __FUNCTION__); \
            goto label; \
        } \
    } while (0)

#define virCheckDomainReturn(obj, retval) \
    do { \
        virDomainPtr _dom = (obj); \
        if (!VIR_IS_CONNECTED_DOMAIN(_dom)) { \
            virReportErrorHelper(VIR_FROM_DOM, VIR_ERR_INVALID_DOMAIN, \
                                 __FILE__, __FUNCTION__, __LINE__, \
                                 "%s", __FUNCTION__); \
            virDispatchError(NULL); \
            return retval; \
        } \
    } while (0)

#define virCheckDomainGoto(obj, label) \
    do { \
        virDomainPtr _dom = (obj); \
        if (!VIR_IS_CONNECTED_DOMAIN(_dom)) { \
            virReportErrorHelper(VIR_FROM_DOM, VIR_ERR_INVALID_DOMAIN, \
                                 __FILE__, __FUNCTION__, __LINE__, \
                                 "%s", __FUNCTION__); \
            goto label; \
        } \
    } while (0)


/**
 * _virConnect:
 *
 * Internal structure associated to a connection
 */
struct _virConnect {
    unsigned int magic;     /* specific value to check */
    int refs;               /* reference count */
    unsigned int flags;     /* a set of connection flags */
    char *uri;              /* the URI the connection was opened with */

    /* The underlying hypervisor driver. */
    virHypervisorDriver *driver;
    void *privateData;      /* private data of the driver */

    virError err;           /* the last error */
};

/**
 * _virDomain:
 *
 * Internal structure associated to a domain
 */
struct _virDomain {
    unsigned int magic;     /* specific value to check */
    int refs;               /* reference count */
    virConnectPtr conn;     /* pointer back to the connection */
    char *name;             /* the domain external name */
    int id;                 /* the domain ID */
};

virConnectPtr virGetConnect(void);
int virConnectUnref(virConnectPtr conn);

virDomainPtr virGetDomain(virConnectPtr conn,
                          const char *name,
                          int id);
int virDomainUnref(virDomainPtr domain);
