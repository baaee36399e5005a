/*
 * remote_driver.c: driver to provide access to libvirtd running
 *   on a remote machine
 *
 * demovirt ships no daemon and no RPC layer, so this file is not built
 * (see src/meson.build).  It is kept so that the driver table stays in
 * step with driver-hypervisor.h and remote_protocol.x, the way it has to
 * in libvirt: most remoteXXX functions are generated from
 * remote_protocol.x into remote_client_bodies.h.
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "internal.h"
#include "datatypes.h"
#include "driver.h"
#include "virerror.h"
#include "virlog.h"
#include "remote_protocol.h"

#define VIR_FROM_THIS VIR_FROM_REMOTE

#define REMOTE_DRIVER_NAME "remote"

struct private_data;

static int call(virConnectPtr conn, struct private_data *priv,
                unsigned int flags, int proc_nr,
                xdrproc_t args_filter, char *args,
                xdrproc_t ret_filter, char *ret);

static virDrvOpenStatus
remoteConnectOpen(virConnectPtr conn,
                  unsigned int flags)
{
    struct private_data *priv;
    remote_connect_open_args args = { &conn->uri, flags };

    if (!(priv = remoteAllocPrivateData()))
        return VIR_DRV_OPEN_ERROR;

    if (call(conn, priv, 0, REMOTE_PROC_CONNECT_OPEN,
             (xdrproc_t) xdr_remote_connect_open_args, (char *) &args,
             (xdrproc_t) xdr_void, (char *) NULL) == -1) {
        remoteFreePrivateData(priv);
        return VIR_DRV_OPEN_ERROR;
    }

    conn->privateData = priv;
    return VIR_DRV_OPEN_SUCCESS;
}


static int
remoteConnectClose(virConnectPtr conn)
{
    struct private_data *priv = conn->privateData;
    int ret = 0;

    if (call(conn, priv, 0, REMOTE_PROC_CONNECT_CLOSE,
             (xdrproc_t) xdr_void, (char *) NULL,
             (xdrproc_t) xdr_void, (char *) NULL) == -1)
        ret = -1;

    remoteFreePrivateData(priv);
    conn->privateData = NULL;
    return ret;
}


#include "remote_client_bodies.h"

/* get_nonnull_domain and make_nonnull_domain convert an
 * object from virDomainPtr to remote_nonnull_domain and back.
 */
static virDomainPtr
get_nonnull_domain(virConnectPtr conn, remote_nonnull_domain domain)
{
    return virGetDomain(conn, domain.name, domain.id);
}

static void
make_nonnull_domain(remote_nonnull_domain *dom_dst, virDomainPtr dom_src)
{
    dom_dst->id = dom_src->id;
    dom_dst->name = dom_src->name;
}


/*----------------------------------------------------------------------*/

static virHypervisorDriver hypervisor_driver = {
    .name = REMOTE_DRIVER_NAME,
    .connectOpen = remoteConnectOpen, /* 0.0.3 */
    .connectClose = remoteConnectClose, /* 0.0.3 */
    .connectNumOfDomains = remoteConnectNumOfDomains, /* 0.0.3 */
    .domainLookupByName = remoteDomainLookupByName, /* 0.0.3 */
    .domainSuspend = remoteDomainSuspend, /* 0.0.3 */
    .domainResume = remoteDomainResume, /* 0.0.3 */
    .domainShutdown = remoteDomainShutdown, /* 0.0.3 */
    .domainGetState = remoteDomainGetState, /* 0.9.2 */
    .domainIsActive = remoteDomainIsActive, /* 0.7.3 */
};

static virConnectDriver connect_driver = {
    .remoteOnly = true,
    .uriSchemes = NULL,
    .hypervisorDriver = &hypervisor_driver,
};

/** remoteRegister:
 *
 * Register driver with libvirt driver system.
 *
 * Returns -1 on error.
 */
int
remoteRegister(void)
{
    return virRegisterConnectDriver(&connect_driver);
}
