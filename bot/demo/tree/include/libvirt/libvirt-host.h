/*
 * libvirt-host.h
 * Summary: APIs for management of hosts
 * Description: Provides APIs for the management of hosts
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef LIBVIRT_HOST_H
# define LIBVIRT_HOST_H

# ifndef __VIR_LIBVIRT_H_INCLUDES__
#  error "Don't include this file directly, only use libvirt/libvirt.h"
# endif


/**
 * virConnect:
 *
 * a virConnect is a private structure representing a connection to
 * the Hypervisor.
 *
 * Since: 0.0.1
 */
typedef struct _virConnect virConnect;

/**
 * virConnectPtr:
 *
 * a virConnectPtr is pointer to a virConnect private structure, this is the
 * type used to reference a connection to the Hypervisor in the API.
 *
 * Since: 0.0.1
 */
typedef virConnect *virConnectPtr;

/**
 * virConnectFlags:
 *
 * Flags when opening a connection to a hypervisor
 *
 * Since: 0.4.1
 */
typedef enum {
    VIR_CONNECT_RO         = (1 << 0),  /* A readonly connection (Since: 0.4.1) */
} virConnectFlags;


/*
 * Connection and disconnections to the Hypervisor
 */
virConnectPtr           virConnectOpen          (const char *name);
virConnectPtr           virConnectOpenReadOnly  (const char *name);
int                     virConnectClose         (virConnectPtr conn);

#endif /* LIBVIRT_HOST_H */
