/*
 * libvirt.c: Main interfaces for the demovirt library to handle
 *            virtualization domains
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
#include "test/test_driver.h"

#define VIR_FROM_THIS VIR_FROM_NONE

#define MAX_DRIVERS 4

static virConnectDriver *virConnectDriverTab[MAX_DRIVERS];
static int virConnectDriverTabCount;
static bool virInitialized;


/*
 * virGlobalInit:
 *
 * Registers the built-in drivers once per process.
 */
static int
virGlobalInit(void)
{
    if (virInitialized)
        return 0;

    virInitialized = true;

    if (testRegister() < 0)
        return -1;

    return 0;
}


/**
 * virRegisterConnectDriver:
 * @driver: pointer to a driver block
 *
 * Register a virtualization driver
 *
 * Returns the driver priority or -1 in case of error.
 */
int
virRegisterConnectDriver(virConnectDriver *driver)
{
    VIR_DEBUG("driver=%p name=%s", driver,
              driver ? NULLSTR(driver->hypervisorDriver->name) : "(null)");

    if (virConnectDriverTabCount >= MAX_DRIVERS) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("Too many drivers, cannot register %s"),
                       driver->hypervisorDriver->name);
        return -1;
    }

    virConnectDriverTab[virConnectDriverTabCount] = driver;
    return virConnectDriverTabCount++;
}


static bool
virConnectDriverHandlesScheme(virConnectDriver *driver,
                              const char *uri)
{
    size_t i;
    size_t len;

    if (!driver->uriSchemes)
        return true;

    for (i = 0; driver->uriSchemes[i]; i++) {
        len = strlen(driver->uriSchemes[i]);
        if (STRPREFIX(uri, driver->uriSchemes[i]) && uri[len] == ':')
            return true;
    }

    return false;
}


static virConnectPtr
virConnectOpenInternal(const char *name,
                       unsigned int flags)
{
    int i;
    virConnectPtr ret = NULL;

    if (virGlobalInit() < 0)
        return NULL;

    /* Like "virsh" without -c: the built-in test driver is the default. */
    if (!name || !*name)
        name = "test:///default";

    if (!(ret = virGetConnect()))
        return NULL;

    ret->flags = flags;
    if (!(ret->uri = strdup(name))) {
        virReportOOMError();
        goto failed;
    }

    for (i = 0; i < virConnectDriverTabCount; i++) {
        virDrvOpenStatus res;

        if (!virConnectDriverHandlesScheme(virConnectDriverTab[i], name))
            continue;

        VIR_DEBUG("trying driver %d (%s) ...",
                  i, virConnectDriverTab[i]->hypervisorDriver->name);

        ret->driver = virConnectDriverTab[i]->hypervisorDriver;
        res = ret->driver->connectOpen(ret, flags);
        if (res == VIR_DRV_OPEN_SUCCESS)
            break;

        ret->driver = NULL;
        if (res == VIR_DRV_OPEN_ERROR)
            goto failed;
    }

    if (!ret->driver) {
        virReportError(VIR_ERR_NO_CONNECT,
                       _("no connection driver available for %s"), name);
        goto failed;
    }

    return ret;

 failed:
    virConnectUnref(ret);
    return NULL;
}


/**
 * virConnectOpen:
 * @name: (optional) URI of the hypervisor
 *
 * This function should be called first to get a connection to the
 * Hypervisor.
 *
 * If @name is NULL or empty, the built-in test driver URI
 * "test:///default" is used.
 *
 * Returns a pointer to the hypervisor connection or NULL in case of error
 *
 * Since: 0.0.3
 */
virConnectPtr
virConnectOpen(const char *name)
{
    virConnectPtr ret = NULL;

    VIR_DEBUG("name=%s", NULLSTR(name));
    virResetLastError();
    ret = virConnectOpenInternal(name, 0);
    if (!ret)
        goto error;
    return ret;

 error:
    virDispatchError(NULL);
    return NULL;
}


/**
 * virConnectOpenReadOnly:
 * @name: (optional) URI of the hypervisor
 *
 * This function should be called first to get a restricted connection to the
 * library functionalities. The set of APIs usable are then restricted
 * on the available methods to control the domains.
 *
 * See virConnectOpen for notes about environment variables which can
 * have an effect on opening drivers.
 *
 * Returns a pointer to the hypervisor connection or NULL in case of error
 *
 * Since: 0.0.3
 */
virConnectPtr
virConnectOpenReadOnly(const char *name)
{
    virConnectPtr ret = NULL;

    VIR_DEBUG("name=%s", NULLSTR(name));
    virResetLastError();
    ret = virConnectOpenInternal(name, VIR_CONNECT_RO);
    if (!ret)
        goto error;
    return ret;

 error:
    virDispatchError(NULL);
    return NULL;
}


/**
 * virConnectClose:
 * @conn: pointer to the hypervisor connection
 *
 * This function closes the connection to the Hypervisor. This should
 * not be called if further interaction with the Hypervisor are needed
 * especially if there is running domain which need further monitoring by
 * the application.
 *
 * Connections are reference counted; the count is explicitly
 * increased by the initial open (virConnectOpen, virConnectOpenReadOnly),
 * as well as every domain object that still refers to the connection.
 * The connection is only released when the last reference is dropped.
 *
 * Returns a positive number if at least 1 reference remains on
 * success. The returned value should not be assumed to be the total
 * reference count. A return of 0 implies no references remain and
 * the connection is closed and memory has been freed. A return of -1
 * implies a failure.
 *
 * Since: 0.0.3
 */
int
virConnectClose(virConnectPtr conn)
{
    VIR_DEBUG("conn=%p", conn);

    virResetLastError();

    virCheckConnectReturn(conn, -1);

    return virConnectUnref(conn);
}
