/*
 * datatypes.c: management of structs for public data types
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "datatypes.h"
#include "virerror.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_NONE


/**
 * virGetConnect:
 *
 * Allocates a new hypervisor connection object.
 *
 * Returns a new pointer or NULL in case of error.
 */
virConnectPtr
virGetConnect(void)
{
    virConnectPtr conn;

    if (!(conn = calloc(1, sizeof(*conn)))) {
        virReportOOMError();
        return NULL;
    }

    conn->magic = VIR_CONNECT_MAGIC;
    conn->refs = 1;
    return conn;
}


/**
 * virConnectUnref:
 * @conn: the hypervisor connection to unreference
 *
 * Drops one reference; the last one closes the driver and releases
 * the object.
 *
 * Returns the number of references left.
 */
int
virConnectUnref(virConnectPtr conn)
{
    int refs;

    VIR_DEBUG("conn=%p refs=%d", conn, conn->refs);

    refs = --conn->refs;
    if (refs > 0)
        return refs;

    if (conn->driver && conn->driver->connectClose)
        conn->driver->connectClose(conn);

    virResetError(&conn->err);
    free(conn->uri);
    conn->magic = 0;
    free(conn);
    return 0;
}


/**
 * virGetDomain:
 * @conn: the hypervisor connection
 * @name: pointer to the domain name
 * @id: domain ID
 *
 * Allocates a new domain object. When the object is no longer needed,
 * virDomainFree must be called to release it.
 *
 * Returns a pointer to the domain object, or NULL on error.
 */
virDomainPtr
virGetDomain(virConnectPtr conn,
             const char *name,
             int id)
{
    virDomainPtr ret;

    if (!(ret = calloc(1, sizeof(*ret))) ||
        !(ret->name = strdup(name))) {
        free(ret);
        virReportOOMError();
        return NULL;
    }

    ret->magic = VIR_DOMAIN_MAGIC;
    ret->refs = 1;
    ret->id = id;
    ret->conn = conn;
    conn->refs++;
    return ret;
}


/**
 * virDomainUnref:
 * @domain: the domain object to unreference
 *
 * Returns the number of references left.
 */
int
virDomainUnref(virDomainPtr domain)
{
    int refs;

    VIR_DEBUG("domain=%p refs=%d", domain, domain->refs);

    refs = --domain->refs;
    if (refs > 0)
        return refs;

    virConnectUnref(domain->conn);
    free(domain->name);
    domain->magic = 0;
    free(domain);
    return 0;
}
